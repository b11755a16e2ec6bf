/**
 * Euler integration of the flow ODE over a SIGMAS list (spec §3.1): z ← z + (σ_{i+1} − σ_i)·v,
 * in float32. The clean-latent estimate x̂₀ = z − σ·v is offered to a callback each step for previews.
 */
import { tf } from '../../server/runtime/tf';
import type { Guider } from './interfaces';
import type { Rng } from './random';

export interface EulerStep {
  /** 0-based step index. */
  index: number;
  total: number;
  sigma: number;
  /** Clean-latent estimate z − σ·v; valid only during the callback. */
  x0: tf.Tensor4D;
}

/** The start point at noise level σ₀ on the straight path: (1 − σ₀)·latent + σ₀·ε (ε when σ₀ = 1). */
export function noisedStart(latent: tf.Tensor4D, sigma0: number, rng: Rng): tf.Tensor4D {
  const noise = tf.tensor(rng.normals(latent.size), latent.shape, 'float32') as tf.Tensor4D;
  if (sigma0 === 1) return noise;
  return tf.tidy(() => tf.add(tf.mul(latent, 1 - sigma0), tf.mul(noise, sigma0)) as tf.Tensor4D);
}

export async function sampleEuler(
  guider: Guider,
  sigmas: readonly number[],
  start: tf.Tensor4D,
  onStep?: (step: EulerStep) => void | Promise<void>,
): Promise<tf.Tensor4D> {
  let z = tf.clone(start);
  const total = sigmas.length - 1;
  try {
    for (let i = 0; i < total; i++) {
      const sigma = sigmas[i];
      const v = await guider.velocity(z, sigma);
      try {
        if (onStep) {
          const x0 = tf.tidy(() => tf.sub(z, tf.mul(v, sigma)) as tf.Tensor4D);
          try {
            await onStep({ index: i, total, sigma, x0 });
          } finally {
            x0.dispose();
          }
        }
        const next = tf.tidy(() => tf.add(z, tf.mul(v, sigmas[i + 1] - sigma)) as tf.Tensor4D);
        z.dispose();
        z = next;
      } finally {
        v.dispose();
      }
    }
  } catch (e) {
    z.dispose();
    throw e;
  }
  return z;
}
