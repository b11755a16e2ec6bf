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

/** Image [B,H,W,3] in [0,1] → PNG of batch item `index`. */
export async function imageToPng(image: tf.Tensor4D, index = 0): Promise<Uint8Array> {
  const [, h, w, c] = image.shape;
  if (c !== 3) throw new Error(`imageToPng: expected 3 channels, got ${c}`);
  const item = tf.tidy(() => tf.slice(image, [index, 0, 0, 0], [1, h, w, 3]));
  const data = await item.data();
  item.dispose();
  const rgb = new Uint8Array(h * w * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = Math.round(Math.min(1, Math.max(0, data[i])) * 255);
  return encodePng(rgb, w, h);
}

/**
 * Latent [B,h,w,C] → RGB8 of batch item 0 through rgb = z·F + b, mapped from [−1,1] to [0,255].
 * Without factors, the first three channels (or the channel mean) are shown as they are.
 */
export async function latentToRgb(latent: tf.Tensor4D, factors?: LatentRgb): Promise<Uint8Array> {
  const [, h, w, c] = latent.shape;
  const item = tf.tidy(() => tf.slice(latent, [0, 0, 0, 0], [1, h, w, c]));
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

/** A progress preview of a clean-latent estimate: decoded by the VAE when asked, else latent2rgb. */
export async function latentPreview(
  x0: tf.Tensor4D,
  vae: VaeLike | undefined,
  decode: boolean,
): Promise<Preview> {
  if (vae && decode) {
    const first = tf.tidy(() =>
      tf.slice(x0, [0, 0, 0, 0], [1, ...x0.shape.slice(1)] as [number, number, number, number]),
    );
    const image = await vae.decode(first);
    first.dispose();
    const data = await imageToPng(image);
    image.dispose();
    return { format: 'png', data };
  }
  const [, h, w] = x0.shape;
  return { format: 'png', data: encodePng(await latentToRgb(x0, vae?.latentRgb), w, h) };
}
