/**
 * Noise levels for the image side (rectified flow), spec §2.2 step 4 and §3.1.
 * σ is the noise fraction in [0, 1]; the model takes τ = 1000·σ.
 */
import type { Rng } from './random';

/** Number of discrete training timesteps (the SD3 scheduler's num_train_timesteps). */
export const TRAIN_TIMESTEPS = 1000;

/** SD3's time shift: σ ↦ s·σ / (1 + (s − 1)·σ). */
export function shiftSigma(sigma: number, shift: number): number {
  return (shift * sigma) / (1 + (shift - 1) * sigma);
}

/**
 * Inference sigmas (spec §3.1): u = linspace(1, σ_min′, N) with σ_min′ = shift(1/1000), each shifted
 * again, then a final 0 — N + 1 values. σ_min′ is the smallest *shifted* training sigma, which the
 * SD3 scheduler shifts a second time; that double shift is kept for parity.
 */
export function flowMatchSigmas(steps: number, shift = 3.0): number[] {
  if (!Number.isInteger(steps) || steps < 1)
    throw new Error(`flowMatchSigmas: steps must be ≥ 1, got ${steps}`);
  if (!(shift > 0)) throw new Error(`flowMatchSigmas: shift must be > 0, got ${shift}`);
  const sigmaMinShifted = shiftSigma(1 / TRAIN_TIMESTEPS, shift);
  const out: number[] = [];
  for (let i = 0; i < steps; i++) {
    const u = steps === 1 ? 1 : 1 + ((sigmaMinShifted - 1) * i) / (steps - 1);
    out.push(shiftSigma(u, shift));
  }
  out.push(0);
  return out;
}

/**
 * Sigmas for partial denoising (image-to-image): the schedule of ⌊steps/denoise⌋ steps, keeping only
 * its last `steps` + 1 values, so the run starts at a lower noise level and still ends at 0.
 */
export function truncatedSigmas(steps: number, shift: number, denoise: number): number[] {
  if (!(denoise > 0 && denoise <= 1))
    throw new Error(`truncatedSigmas: denoise must be in (0, 1], got ${denoise}`);
  if (denoise === 1) return flowMatchSigmas(steps, shift);
  const total = Math.floor(steps / denoise);
  const full = flowMatchSigmas(total, shift);
  return full.slice(full.length - (steps + 1));
}

/** Checks that a SIGMAS value is usable by a sampler: finite, non-increasing, at least two entries. */
export function assertSigmas(sigmas: unknown, who: string): asserts sigmas is number[] {
  if (
    !Array.isArray(sigmas) ||
    sigmas.length < 2 ||
    sigmas.some((s) => typeof s !== 'number' || !isFinite(s))
  ) {
    throw new Error(`${who}: input 'sigmas' must be a list of at least two finite numbers`);
  }
  for (let i = 1; i < sigmas.length; i++) {
    if (sigmas[i] > sigmas[i - 1]) throw new Error(`${who}: input 'sigmas' must not increase (index ${i})`);
  }
}

/**
 * Training σ draw (spec §2.2 step 4): logit-normal u = sigmoid(mean + std·n), k = ⌊1000u⌋ on the
 * unshifted grid, σ = (1000 − k)/1000 ∈ {0.001, …, 1}. k is clamped to 999 for u that rounds to 1.
 */
export function drawTrainingSigmas(rng: Rng, n: number, mean = 0, std = 1): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const u = 1 / (1 + Math.exp(-(mean + std * rng.normal())));
    const k = Math.min(TRAIN_TIMESTEPS - 1, Math.floor(TRAIN_TIMESTEPS * u));
    out.push((TRAIN_TIMESTEPS - k) / TRAIN_TIMESTEPS);
  }
  return out;
}
