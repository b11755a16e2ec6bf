/**
 * Step previews: a cheap latent→RGB projection (ComfyUI's latent2rgb) or a decoded image, as PNG.
 */
import { tf } from '../../server/runtime/tf';
import { PNG } from 'pngjs';
import type { LatentRgb, VaeLike } from './interfaces';
import type { Preview } from '../../server/engine/types';

/** RGB8 pixels [H·W·3] → PNG bytes. */
export function encodePng(rgb: Uint8Array, width: number, height: number): Uint8Array {
  const png = new PNG({ width, height, colorType: 2 });
  for (let i = 0, j = 0; i < width * height; i++, j += 3) {
    png.data[i * 4] = rgb[j];
    png.data[i * 4 + 1] = rgb[j + 1];
    png.data[i * 4 + 2] = rgb[j + 2];
    png.data[i * 4 + 3] = 255;
  }
  return new Uint8Array(PNG.sync.write(png, { colorType: 2 }));
}

/** Image [B,H,W,3] in [0,1] → RGB8 of batch item `index`. */
export async function imageToRgb(image: tf.Tensor4D, index = 0): Promise<Uint8Array> {
  const [, h, w, c] = image.shape;
  if (c !== 3) throw new Error(`imageToRgb: expected 3 channels, got ${c}`);
  const item = tf.tidy(() => tf.slice(image, [index, 0, 0, 0], [1, h, w, 3]));
  const data = await item.data();
  item.dispose();
  const rgb = new Uint8Array(h * w * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = Math.round(Math.min(1, Math.max(0, data[i])) * 255);
  return rgb;
}

/** Image [B,H,W,3] in [0,1] → PNG of batch item `index`. */
export async function imageToPng(image: tf.Tensor4D, index = 0): Promise<Uint8Array> {
  const [, h, w] = image.shape;
  return encodePng(await imageToRgb(image, index), w, h);
}

/**
 * Latent [B,h,w,C] → RGB8 of batch item `index` through rgb = z·F + b, mapped from [−1,1] to [0,255].
 * Without factors, the first three channels (or the channel mean) are shown as they are.
 */
export async function latentToRgb(latent: tf.Tensor4D, factors?: LatentRgb, index = 0): Promise<Uint8Array> {
  const [, h, w, c] = latent.shape;
  const item = tf.tidy(() => tf.slice(latent, [index, 0, 0, 0], [1, h, w, c]));
  const z = await item.data();
  item.dispose();
  if (factors && (factors.factors.length !== c || factors.factors.some((row) => row.length !== 3))) {
    throw new Error(
      `latent preview: factors are ${factors.factors.length}×3 but the latent has ${c} channels`,
    );
  }
  const rgb = new Uint8Array(h * w * 3);
  for (let p = 0; p < h * w; p++) {
    for (let k = 0; k < 3; k++) {
      let v: number;
      if (factors) {
        v = factors.bias[k] ?? 0;
        for (let ch = 0; ch < c; ch++) v += z[p * c + ch] * factors.factors[ch][k];
      } else if (c >= 3) {
        v = z[p * c + k];
      } else {
        v = 0;
        for (let ch = 0; ch < c; ch++) v += z[p * c + ch] / c;
      }
      rgb[p * 3 + k] = Math.round(Math.min(1, Math.max(0, (v + 1) / 2)) * 255);
    }
  }
  return rgb;
}

/** A batch shows at most this many items in its preview. */
export const MAX_PREVIEW_TILES = 16;

/**
 * RGB8 images of one size side by side in rows of ⌈√n⌉, one black pixel apart (a batch of candidates forming
 * together, as ComfyUI shows a batch).
 */
export function tileRgb(
  items: Uint8Array[],
  width: number,
  height: number,
): { rgb: Uint8Array; width: number; height: number } {
  const cols = Math.ceil(Math.sqrt(items.length));
  const rows = Math.ceil(items.length / cols);
  const W = cols * width + cols - 1;
  const H = rows * height + rows - 1;
  const rgb = new Uint8Array(W * H * 3);
  items.forEach((item, i) => {
    const x0 = (i % cols) * (width + 1);
    const y0 = Math.floor(i / cols) * (height + 1);
    for (let y = 0; y < height; y++)
      rgb.set(item.subarray(y * width * 3, (y + 1) * width * 3), ((y0 + y) * W + x0) * 3);
  });
  return { rgb, width: W, height: H };
}

/**
 * A progress preview of a clean-latent estimate: decoded by the VAE when asked, else latent2rgb; a batch as a
 * grid of its first MAX_PREVIEW_TILES items.
 */
export async function latentPreview(
  x0: tf.Tensor4D,
  vae: VaeLike | undefined,
  decode: boolean,
): Promise<Preview> {
  const n = Math.min(x0.shape[0], MAX_PREVIEW_TILES);
  const items: Uint8Array[] = [];
  let width: number;
  let height: number;
  if (vae && decode) {
    const first = tf.tidy(() =>
      tf.slice(x0, [0, 0, 0, 0], [n, ...x0.shape.slice(1)] as [number, number, number, number]),
    );
    const image = await vae.decode(first);
    first.dispose();
    try {
      [, height, width] = image.shape;
      for (let i = 0; i < n; i++) items.push(await imageToRgb(image, i));
    } finally {
      image.dispose();
    }
  } else {
    [, height, width] = x0.shape;
    for (let i = 0; i < n; i++) items.push(await latentToRgb(x0, vae?.latentRgb, i));
  }
  const grid = n === 1 ? { rgb: items[0], width, height } : tileRgb(items, width, height);
  return { format: 'png', data: encodePng(grid.rgb, grid.width, grid.height) };
}
