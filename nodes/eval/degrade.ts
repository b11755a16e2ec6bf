/** Blur and noise for testing the judge on images less clean than renders. */
import type { Rng } from '../data/shapes/random';
import type { RgbImage } from '../data/shapes/render';

// Math's functions bound once: under jest every read of a global such as `Math` goes through the test
// sandbox and costs ~0.4 µs, which dominates per-pixel loops.
const { ceil, exp, max, min } = Math;

/** Separable Gaussian blur with standard deviation sigma (pixels); edges are clamped. */
export function gaussianBlur(image: RgbImage, sigma: number): RgbImage {
  if (sigma <= 0) return { ...image, data: image.data.slice() };
  const { width: W, height: H, data } = image;
  const r = max(1, ceil(3 * sigma));
  const k: number[] = [];
  let sum = 0;
  for (let i = -r; i <= r; i++) {
    const v = exp(-(i * i) / (2 * sigma * sigma));
    k.push(v);
    sum += v;
  }
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  const tmp = new Float32Array(data.length);
  const out = new Float32Array(data.length);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let i = -r; i <= r; i++) {
          const xx = min(W - 1, max(0, x + i));
          s += k[i + r] * data[(y * W + xx) * 3 + c];
        }
        tmp[(y * W + x) * 3 + c] = s;
      }
    }
  }
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let i = -r; i <= r; i++) {
          const yy = min(H - 1, max(0, y + i));
          s += k[i + r] * tmp[(yy * W + x) * 3 + c];
        }
        out[(y * W + x) * 3 + c] = s;
      }
    }
  }
  return { width: W, height: H, data: out };
}

/** Adds independent Gaussian noise of standard deviation std to every value, clamped to [0, 1]. */
export function addNoise(image: RgbImage, std: number, rng: Rng): RgbImage {
  const out = new Float32Array(image.data.length);
  for (let i = 0; i < out.length; i++) out[i] = min(1, max(0, image.data[i] + std * rng.normal()));
  return { width: image.width, height: image.height, data: out };
}
