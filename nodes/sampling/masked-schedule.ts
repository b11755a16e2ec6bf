/**
 * The text side's absorbing-state ("masked") diffusion schedule, spec §2.3 and §3.2.
 * t ∈ [0, 1] is the mask time; there is no text timestep input to the model.
 */
import { tf } from '../../server/runtime/tf';
import type { Rng } from './random';

/** η of the log-linear schedule: the mask probability tops out at 1 − η. */
export const LOG_LINEAR_ETA = 1e-3;
/** δ (`sampling_eps`) of the training time draw: t ∈ [δ, 1]. */
export const TRAIN_TIME_EPS = 1e-3;
/** ε of the sampler's time grid: t runs from 1 down to ε. */
export const SAMPLER_TIME_EPS = 1e-5;

/** Total noise σ(t) = −ln(1 − (1−η)t). */
export function totalNoise(t: number, eta = LOG_LINEAR_ETA): number {
  return -Math.log1p(-(1 - eta) * t);
}
/** Mask probability π(t) = 1 − e^{−σ(t)} = (1−η)t. */
export function maskChance(t: number, eta = LOG_LINEAR_ETA): number {
  return (1 - eta) * t;
}
/** Rate σ′(t) = (1−η)/(1 − (1−η)t). */
export function noiseRate(t: number, eta = LOG_LINEAR_ETA): number {
  return (1 - eta) / (1 - (1 - eta) * t);
}
/** ELBO weight w(t) = σ′(t)/(e^{σ(t)} − 1), computed that way (it equals 1/t). */
export function elboWeight(t: number, eta = LOG_LINEAR_ETA): number {
  return noiseRate(t, eta) / Math.expm1(totalNoise(t, eta));
}

/** The same weight as a float32 tensor computation, as the loss uses it: t [B] → w [B]. */
export function elboWeightTensor(t: tf.Tensor1D, eta = LOG_LINEAR_ETA): tf.Tensor1D {
  return tf.tidy(() => {
    const a = tf.mul(t, 1 - eta);
    const sigma = tf.neg(tf.log1p(tf.neg(a)));
    const rate = tf.div(tf.scalar(1 - eta), tf.sub(1, a));
    return tf.div(rate, tf.expm1(sigma)) as tf.Tensor1D;
  });
}

/**
 * Antithetic (stratified) time draw, one t per sequence: u_i = ((r_i + i)/n) mod 1, t = (1−δ)u + δ,
 * so exactly one t falls in each of the n strata of [δ, 1].
 */
export function drawAntitheticTimes(rng: Rng, n: number, eps = TRAIN_TIME_EPS): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = rng.uniform();
    const u = (r / n + i / n) % 1;
    out.push((1 - eps) * u + eps);
  }
  return out;
}

/** The sampler's grid t_j = 1 − j·Δ, Δ = (1−ε)/N, j = 0..N (N + 1 values). */
export function samplerTimes(steps: number, eps = SAMPLER_TIME_EPS): number[] {
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`samplerTimes: steps must be ≥ 1, got ${steps}`);
  const dt = (1 - eps) / steps;
  return Array.from({ length: steps + 1 }, (_, j) => 1 - j * dt);
}
