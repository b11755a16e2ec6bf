/** Draws scenes into RGB pixel arrays, anti-aliased by supersampling each pixel on a regular grid. */
import { COLOR_RGB, HALF_SIDE, insideShape, type Scene } from './world';

// Math's functions bound once: under jest every read of a global such as `Math` goes through the test
// sandbox and costs ~0.4 µs, which dominates per-pixel loops.
const { ceil, floor, max, min, round } = Math;

/** An RGB image without tensors: row-major, height × width × 3 (HWC), values in [0, 1]. */
export interface RgbImage {
  width: number;
  height: number;
  data: Float32Array;
}

export interface RenderOptions {
  /** Canvas width in pixels (≥ 32; default 32). */
  width?: number;
  /** Canvas height in pixels (default: the width). */
  height?: number;
  /** Samples per pixel along each axis (default 4, i.e. 16 samples per pixel). */
  supersample?: number;
}

export const DEFAULT_RESOLUTION = 32;
export const MIN_RESOLUTION = 32;

function checkSize(name: string, v: number): void {
  if (!Number.isInteger(v) || v < MIN_RESOLUTION || v > 4096) {
    throw new Error(`renderScene: ${name} must be an integer in [${MIN_RESOLUTION}, 4096], got ${v}`);
  }
}

export function renderScene(scene: Scene, options: RenderOptions = {}): RgbImage {
  const width = options.width ?? DEFAULT_RESOLUTION;
  const height = options.height ?? width;
  const ss = options.supersample ?? 4;
  checkSize('width', width);
  checkSize('height', height);
  if (!Number.isInteger(ss) || ss < 1 || ss > 16) {
    throw new Error(`renderScene: supersample must be an integer in [1, 16], got ${ss}`);
  }
  const data = new Float32Array(width * height * 3);
  const inv = 1 / (ss * ss);
  for (const obj of scene.objects) {
    const h = HALF_SIDE[obj.size];
    const rgb = COLOR_RGB[obj.color];
    const r = rgb[0] / 255;
    const g = rgb[1] / 255;
    const b = rgb[2] / 255;
    const px0 = max(0, floor((obj.x - h) * width));
    const px1 = min(width - 1, ceil((obj.x + h) * width));
    const py0 = max(0, floor((obj.y - h) * height));
    const py1 = min(height - 1, ceil((obj.y + h) * height));
    for (let py = py0; py <= py1; py++) {
      for (let px = px0; px <= px1; px++) {
        let hits = 0;
        for (let sy = 0; sy < ss; sy++) {
          const dy = (py + (sy + 0.5) / ss) / height - obj.y;
          for (let sx = 0; sx < ss; sx++) {
            const dx = (px + (sx + 0.5) / ss) / width - obj.x;
            if (insideShape(obj.shape, dx, dy, h)) hits++;
          }
        }
        if (hits === 0) continue;
        const c = hits * inv;
        const k = (py * width + px) * 3;
        // Objects never overlap, so adding coverages cannot exceed one colour's value; clamp anyway.
        data[k] = min(1, data[k] + c * r);
        data[k + 1] = min(1, data[k + 1] + c * g);
        data[k + 2] = min(1, data[k + 2] + c * b);
      }
    }
  }
  return { width, height, data };
}

/** 8-bit RGB copy (rounded, clamped), for PNG writers. */
export function toUint8(image: RgbImage): Uint8Array {
  const out = new Uint8Array(image.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = round(image.data[i] * 255);
    out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return out;
}

/** Float RGB in [0, 1] from 8-bit RGB (HWC). */
export function fromUint8(data: Uint8Array, width: number, height: number): RgbImage {
  if (data.length !== width * height * 3) {
    throw new Error(
      `fromUint8: expected ${width * height * 3} bytes for ${width}×${height} RGB, got ${data.length}`,
    );
  }
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i] / 255;
  return { width, height, data: out };
}
