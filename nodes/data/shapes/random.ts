/**
 * Random choices for the shapes world, on top of the project's seeded generator
 * (server/runtime/nn/random.ts), so every scene, caption and question is a function of its seed.
 */
import { Rng } from '../../../server/runtime/nn/random';

export { Rng };

// Math's functions bound once: under jest every read of a global such as `Math` goes through the test
// sandbox and costs ~0.4 µs, which dominates per-pixel loops.
const { floor } = Math;

/** Uniform float in [lo, hi). */
export function uniformIn(rng: Rng, lo: number, hi: number): number {
  return lo + (hi - lo) * rng.uniform();
}

/** Uniform integer in [lo, hi], both ends included. */
export function intIn(rng: Rng, lo: number, hi: number): number {
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || hi < lo) {
    throw new Error(`intIn: need integers lo <= hi, got ${lo}, ${hi}`);
  }
  return lo + floor(rng.uniform() * (hi - lo + 1));
}

/** True with probability p. */
export function chance(rng: Rng, p: number): boolean {
  return rng.uniform() < p;
}

/** One element, uniformly. */
export function pick<T>(rng: Rng, items: readonly T[]): T {
  if (items.length === 0) throw new Error('pick: empty list');
  return items[floor(rng.uniform() * items.length)];
}

/** A shuffled copy (Fisher–Yates). */
export function shuffle<T>(rng: Rng, items: readonly T[]): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = floor(rng.uniform() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** An index drawn with probability proportional to weights[i]. */
export function weighted(rng: Rng, weights: readonly number[]): number {
  const total = weights.reduce((a, b) => a + b, 0);
  if (!(total > 0) || weights.some((w) => !(w >= 0))) {
    throw new Error(`weighted: weights must be >= 0 with a positive sum, got ${weights.join(', ')}`);
  }
  let r = rng.uniform() * total;
  for (let i = 0; i < weights.length; i++) {
    r -= weights[i];
    if (r < 0) return i;
  }
  return weights.length - 1;
}
