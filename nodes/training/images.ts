/**
 * Image files for training data: PNG decoding, and the spec's preprocessing (§4): resize the shorter
 * side to R with an antialiased bicubic filter (as PIL does), then centre-crop R×R. Pixels are RGB
 * float32 in [0, 1] (the IMAGE convention); the VAE maps them to [−1, 1].
 */
import * as fs from 'fs';
import { PNG } from 'pngjs';

export interface RgbImage {
  width: number;
  height: number;
  /** Row-major RGB in [0, 1]. */
  data: Float32Array;
}

/** Reads a PNG file (alpha is dropped, as ComfyUI's LoadImage does for the image output). */
export function readImageFile(file: string): RgbImage {
  const bytes = fs.readFileSync(file);
  if (bytes.length < 8 || bytes.readUInt32BE(0) !== 0x89504e47) {
    throw new Error(`${file}: only PNG images are supported for training data`);
  }
  const png = PNG.sync.read(bytes);
  const n = png.width * png.height;
  const data = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) {
    data[i * 3] = png.data[i * 4] / 255;
    data[i * 3 + 1] = png.data[i * 4 + 1] / 255;
    data[i * 3 + 2] = png.data[i * 4 + 2] / 255;
  }
  return { width: png.width, height: png.height, data };
}

/** Keys' cubic with a = −0.5 (PIL's bicubic). */
function cubic(x: number): number {
  const a = -0.5;
  const ax = Math.abs(x);
  if (ax < 1) return ((a + 2) * ax - (a + 3)) * ax * ax + 1;
  if (ax < 2) return ((ax - 5) * ax + 8) * ax * a - 4 * a;
  return 0;
}

interface Taps {
  start: Int32Array;
  count: Int32Array;
  weights: Float64Array[];
}

/** Filter taps along one axis; the support widens when shrinking so the result is antialiased. */
function taps(srcLen: number, dstLen: number): Taps {
  const scale = srcLen / dstLen;
  const filterScale = Math.max(scale, 1);
  const support = 2 * filterScale;
  const start = new Int32Array(dstLen);
  const count = new Int32Array(dstLen);
  const weights: Float64Array[] = [];
  for (let i = 0; i < dstLen; i++) {
    const center = (i + 0.5) * scale;
    const lo = Math.max(0, Math.floor(center - support + 0.5));
    const hi = Math.min(srcLen, Math.floor(center + support + 0.5));
    const w = new Float64Array(Math.max(0, hi - lo));
    let sum = 0;
    for (let j = lo; j < hi; j++) {
      const v = cubic((j - center + 0.5) / filterScale);
      w[j - lo] = v;
      sum += v;
    }
    if (sum !== 0) for (let k = 0; k < w.length; k++) w[k] /= sum;
    start[i] = lo;
    count[i] = w.length;
    weights.push(w);
  }
  return { start, count, weights };
}

/** Separable antialiased bicubic resize of an RGB image; the result is clamped to [0, 1]. */
export function resizeBicubic(img: RgbImage, width: number, height: number): RgbImage {
  if (width === img.width && height === img.height) return { width, height, data: img.data.slice() };
  const tx = taps(img.width, width);
  const ty = taps(img.height, height);
  const mid = new Float64Array(width * img.height * 3);
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < width; x++) {
      const w = tx.weights[x];
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let k = 0; k < tx.count[x]; k++)
          acc += w[k] * img.data[(y * img.width + tx.start[x] + k) * 3 + c];
        mid[(y * width + x) * 3 + c] = acc;
      }
    }
  }
  const out = new Float32Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const w = ty.weights[y];
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let k = 0; k < ty.count[y]; k++) acc += w[k] * mid[((ty.start[y] + k) * width + x) * 3 + c];
        out[(y * width + x) * 3 + c] = Math.min(1, Math.max(0, acc));
      }
    }
  }
  return { width, height, data: out };
}

/** Shorter side → size (bicubic), then the centred size×size crop. */
export function resizeAndCenterCrop(img: RgbImage, size: number): RgbImage {
  const scale = size / Math.min(img.width, img.height);
  const w = Math.max(size, Math.round(img.width * scale));
  const h = Math.max(size, Math.round(img.height * scale));
  const resized = resizeBicubic(img, w, h);
  const left = Math.round((w - size) / 2);
  const top = Math.round((h - size) / 2);
  const data = new Float32Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    const from = ((top + y) * w + left) * 3;
    data.set(resized.data.subarray(from, from + size * 3), y * size * 3);
  }
  return { width: size, height: size, data };
}
