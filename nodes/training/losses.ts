/**
 * The two D-DiT training losses as tensor functions (spec §2.2 and §2.3). Random draws happen outside
 * (see draws.ts) so the formulas can be checked directly.
 */
import { tf } from '../../server/runtime/tf';
import { elboWeightTensor, LOG_LINEAR_ETA, maskChance } from '../sampling/masked-schedule';
import { subsLogProbs } from '../sampling/subs';
import type { Rng } from '../sampling/random';

/** The velocity head of a D-DiT forward that autograd can follow (synchronous tfjs). */
export type VelocityFn = (z: tf.Tensor4D, tau: tf.Tensor1D, enc: tf.Tensor3D) => tf.Tensor4D;

/** z_σ = (1 − σ)z₀ + σε with one σ per sample. */
export function interpolate(z0: tf.Tensor4D, noise: tf.Tensor4D, sigmas: readonly number[]): tf.Tensor4D {
  return tf.tidy(() => {
    const s = tf.tensor1d(sigmas as number[]).reshape([-1, 1, 1, 1]);
    return tf.add(tf.mul(tf.sub(1, s), z0), tf.mul(s, noise)) as tf.Tensor4D;
  });
}

/**
 * Rectified-flow loss, x₀-parameterised (spec §2.2 steps 5–7): ẑ₀ = z_σ − σ·v̂, L = mean (ẑ₀ − z₀)².
 * τ = 1000σ. The text logits of the same call are ignored.
 */
export function flowMatchingLoss(
  velocityOf: VelocityFn,
  z0: tf.Tensor4D,
  noise: tf.Tensor4D,
  enc: tf.Tensor3D,
  sigmas: readonly number[],
): tf.Scalar {
  if (sigmas.length !== z0.shape[0])
    throw new Error(`flowMatchingLoss: ${sigmas.length} sigmas for batch ${z0.shape[0]}`);
  return tf.tidy(() => {
    const zs = interpolate(z0, noise, sigmas);
    const tau = tf.tensor1d(sigmas.map((s) => 1000 * s));
    const velocity = velocityOf(zs, tau, enc);
    const s = tf.tensor1d(sigmas as number[]).reshape([-1, 1, 1, 1]);
    const x0hat = tf.sub(zs, tf.mul(s, velocity));
    return tf.mean(tf.square(tf.sub(x0hat, z0))) as tf.Scalar;
  });
}

/** CFG dropout: rows flagged in `drop` take the null embedding (same M), the rest keep their own. */
export function applyCfgDropout(
  enc: tf.Tensor3D,
  nullEnc: tf.Tensor3D,
  drop: readonly boolean[],
): tf.Tensor3D {
  const [b, m, d] = enc.shape;
  if (nullEnc.shape[1] !== m || nullEnc.shape[2] !== d) {
    throw new Error(
      `CFG dropout: null embedding is ${nullEnc.shape.slice(1)} but captions are [${m},${d}] (must share M)`,
    );
  }
  if (!drop.some(Boolean)) return tf.clone(enc);
  return tf.tidy(() => {
    const keep = tf.tensor1d(drop.map((x) => (x ? 0 : 1))).reshape([b, 1, 1]);
    // [1,M,D]·[B,1,1] broadcasts in the multiply itself: the wasm Tile behind broadcastTo took ~15 ms here
    const nul = nullEnc.shape[0] === 1 ? nullEnc : nullEnc.slice([0, 0, 0], [1, m, d]);
    return tf.add(tf.mul(enc, keep), tf.mul(nul, tf.sub(1, keep))) as tf.Tensor3D;
  });
}

/**
 * Forward corruption (spec §2.3): each position with cond_mask = 1 becomes MASK with probability
 * π(t_b) = (1−η)t_b; positions with cond_mask = 0 (an instruction prompt) are never masked.
 * One uniform is drawn per position, in order, whether or not it can be masked.
 */
export function corruptTokens(
  x0: Int32Array,
  condMask: Uint8Array,
  times: readonly number[],
  length: number,
  maskId: number,
  rng: Rng,
  eta = LOG_LINEAR_ETA,
): Int32Array {
  const xt = new Int32Array(x0);
  for (let b = 0; b < times.length; b++) {
    const pi = maskChance(times[b], eta);
    for (let l = 0; l < length; l++) {
      const i = b * length + l;
      const u = rng.uniform();
      if (condMask[i] && u < pi) xt[i] = maskId;
    }
  }
  return xt;
}

/**
 * Per-token masked-diffusion terms ℓ_{b,l} = −w(t_b)·log p_SUBS(x₀_{b,l}) [B,M], times label_mask
 * when given. Zero wherever x_t is not MASK.
 */
export function maskedTokenTerms(
  logits: tf.Tensor3D,
  x0: tf.Tensor2D,
  xt: tf.Tensor2D,
  times: readonly number[],
  maskId: number,
  labelMask?: tf.Tensor2D,
): tf.Tensor2D {
  return tf.tidy(() => {
    const vocab = logits.shape[2];
    const logp = subsLogProbs(logits, xt, maskId);
    const lpX0 = tf.sum(tf.mul(logp, tf.oneHot(tf.cast(x0, 'int32'), vocab).toFloat()), -1);
    const w = elboWeightTensor(tf.tensor1d(times as number[])).reshape([-1, 1]);
    const terms = tf.neg(tf.mul(w, lpX0));
    return (labelMask ? tf.mul(terms, labelMask) : terms) as tf.Tensor2D;
  });
}

/** Reduction over all B·M positions (ignore_padding = False): Σℓ / (B·M). */
export function reduceTokenTerms(terms: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.div(tf.sum(terms), terms.size) as tf.Scalar);
}

/**
 * Reduction per sequence (a deviation from the spec, for instruction data): each sequence's sum divided by
 * its own count (e.g. its content length), then the mean over sequences. A one-word answer then weighs as
 * much as a whole caption instead of 1/M of a batch row.
 */
export function reducePerSequence(terms: tf.Tensor2D, counts: readonly number[]): tf.Scalar {
  if (counts.length !== terms.shape[0])
    throw new Error(`reducePerSequence: ${counts.length} counts for ${terms.shape[0]} sequences`);
  if (counts.some((c) => !(c > 0))) throw new Error('reducePerSequence: every count must be positive');
  return tf.tidy(() => {
    const perRow = tf.div(tf.sum(terms, 1), tf.tensor1d(counts as number[]));
    return tf.mean(perRow) as tf.Scalar;
  });
}

/**
 * L_txt for a prepared text batch: logits = f(z₀, τ = 0, Enc(x_t)). Reduced over B·M (the spec), or per
 * sequence by `perSequence` counts (see reducePerSequence).
 */
export function maskedDiffusionLoss(
  logits: tf.Tensor3D,
  x0: tf.Tensor2D,
  xt: tf.Tensor2D,
  times: readonly number[],
  maskId: number,
  labelMask?: tf.Tensor2D,
  perSequence?: readonly number[],
): tf.Scalar {
  return tf.tidy(() => {
    const terms = maskedTokenTerms(logits, x0, xt, times, maskId, labelMask);
    return perSequence ? reducePerSequence(terms, perSequence) : reduceTokenTerms(terms);
  });
}
