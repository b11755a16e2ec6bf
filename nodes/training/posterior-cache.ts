/**
 * The frozen VAE's posterior (mean, log-variance) per training image, computed once and reused: the
 * encoder's convolutions were ~40% of a shapes training step, and only the ε of the posterior sample
 * changes from one visit of an image to the next. Images are keyed by content (the shapes data set
 * renders them anew on each visit), and a sample drawn from cached moments equals VAE encode's: the
 * same ε stream (Rng(seed, 'vae.posterior') over the whole batch) and the same DiT-space map.
 */
import { tf } from '../../server/runtime/tf';
import { Rng } from '../../server/runtime/nn/random';

/** What a VAE offers for the cached path (AutoencoderKL does; an ONNX-backed VAE need not). */
export interface MomentsVae {
  encodeMoments(x: tf.Tensor4D): { mean: tf.Tensor4D; logvar: tf.Tensor4D };
  toDit(zRaw: tf.Tensor): tf.Tensor4D;
}

export function hasMoments(vae: unknown): vae is MomentsVae {
  const v = vae as Partial<MomentsVae> | null;
  return !!v && typeof v.encodeMoments === 'function' && typeof v.toDit === 'function';
}

interface Moments {
  mean: Float32Array;
  logvar: Float32Array;
}

/** 2 KB per 8×8×4 latent: 100k images stay under ~200 MB. */
const MAX_ENTRIES = 100_000;

const caches = new WeakMap<object, Map<string, Moments>>();

/** Two independent 32-bit FNV-1a hashes over the pixel bits (64 bits: no collision among data sets of this size). */
export function imageKey(px: Float32Array): string {
  const u = new Uint32Array(px.buffer, px.byteOffset, px.length);
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ px.length;
  for (let i = 0; i < u.length; i++) {
    a = Math.imul(a ^ u[i], 0x01000193);
    b = Math.imul(b ^ u[i] ^ (i << 7), 0x85ebca6b);
  }
  return `${px.length}:${(a >>> 0).toString(36)}:${(b >>> 0).toString(36)}`;
}

/**
 * DiT-space posterior samples [B,h,w,C] of `images` (each H·W·3 in [0, 1]) with ε seeded by `seed`.
 * Moments of images not seen before are computed in one batch.
 */
export function samplePosterior(
  vae: MomentsVae,
  images: Float32Array[],
  width: number,
  height: number,
  seed: number,
): tf.Tensor4D {
  let cache = caches.get(vae);
  if (!cache) caches.set(vae, (cache = new Map()));
  const keys = images.map(imageKey);
  const missing = [...new Set(keys.filter((k) => !cache.has(k)))];
  let shape: [number, number, number] | null = null;
  if (missing.length) {
    const firstOf = new Map(keys.map((k, i) => [k, i] as const));
    const px = new Float32Array(missing.length * height * width * 3);
    missing.forEach((k, j) => px.set(images[firstOf.get(k)!], j * height * width * 3));
    const { mean, logvar } = tf.tidy(() => {
      const x = tf.sub(tf.mul(tf.tensor4d(px, [missing.length, height, width, 3]), 2), 1) as tf.Tensor4D;
      return vae.encodeMoments(x);
    });
    const [, h, w, c] = mean.shape;
    shape = [h, w, c];
    const m = mean.dataSync() as Float32Array;
    const lv = logvar.dataSync() as Float32Array;
    mean.dispose();
    logvar.dispose();
    const n = h * w * c;
    if (cache.size + missing.length > MAX_ENTRIES) cache.clear();
    missing.forEach((k, j) =>
      cache.set(k, { mean: m.slice(j * n, (j + 1) * n), logvar: lv.slice(j * n, (j + 1) * n) }),
    );
  }
  const first = cache.get(keys[0])!;
  const n = first.mean.length;
  if (!shape) shape = latentShape(vae, n, width, height);
  const B = images.length;
  const mean = new Float32Array(B * n);
  const logvar = new Float32Array(B * n);
  keys.forEach((k, b) => {
    const e = cache.get(k)!;
    mean.set(e.mean, b * n);
    logvar.set(e.logvar, b * n);
  });
  const eps = new Rng(seed, 'vae.posterior').fillNormal(new Float32Array(B * n));
  return tf.tidy(() => {
    const s = [B, ...shape!] as [number, number, number, number];
    const z = tf.add(
      tf.tensor4d(mean, s),
      tf.mul(tf.exp(tf.mul(tf.tensor4d(logvar, s), 0.5)), tf.tensor4d(eps, s)),
    );
    return vae.toDit(z);
  });
}

/** [h, w, C] of a cached latent of n values, from the VAE's config (down-sampling factor). */
function latentShape(vae: MomentsVae, n: number, width: number, height: number): [number, number, number] {
  const cfg = (vae as unknown as { config?: { downsample_factor?: number; latent_channels?: number } })
    .config;
  const f = cfg?.downsample_factor;
  const c = cfg?.latent_channels;
  if (f && c && (height / f) * (width / f) * c === n) return [height / f, width / f, c];
  throw new Error(
    `VAE posterior cache: cannot tell the latent shape of ${n} values for ${width}×${height} images`,
  );
}
