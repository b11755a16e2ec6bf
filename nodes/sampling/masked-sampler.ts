/**
 * The masked-diffusion ancestral sampler with caching (MDLM "ddpm_cache", spec §3.2). It works on
 * token ids only; the model is reached through a callback returning SUBS probabilities, so the same
 * loop serves captioning, question answering and free-form in-filling.
 */
import { samplerTimes, SAMPLER_TIME_EPS } from './masked-schedule';
import type { Rng } from './random';

/** SUBS probabilities [B·M·V] for the state x [B·M]. */
export type ProbabilityFn = (x: Int32Array) => Promise<Float32Array> | Float32Array;

export interface MaskedStep {
  /** 1-based step just completed (0 = the initial state). */
  step: number;
  steps: number;
  tokens: Int32Array;
  /** Whether this step needed a forward pass (false when the cached probabilities were reused). */
  forward: boolean;
}

export interface MaskedSamplerOptions {
  /** Template ids [B·M]; entries at non-fixed positions are ignored (they start as MASK). */
  template: Int32Array | readonly number[];
  /** Keep mask [B·M]: true = fixed token that never changes. */
  fixed: readonly boolean[] | Uint8Array;
  /** V; taken from the first probabilities when omitted. */
  vocab?: number;
  maskId: number;
  steps: number;
  /**
   * One generator for the whole state, or one per batch row (the state split into equal rows): with a
   * generator per row, each row draws exactly what it would draw sampled alone, so batching items does
   * not change what each of them samples.
   */
  rng: Rng | readonly Rng[];
  probabilities: ProbabilityFn;
  /**
   * Sharpens the token distribution a revealed position draws from: p^(1/T), renormalised; 1 (default) is the
   * reference's ancestral sampler, 0 takes the most probable token (greedy). When a position is revealed does
   * not depend on it.
   */
  temperature?: number;
  /** Reuse p when a step changed nothing (the reference's behaviour). Off only for testing. */
  cache?: boolean;
  eps?: number;
  onStep?: (s: MaskedStep) => void | Promise<void>;
}

export interface MaskedResult {
  tokens: Int32Array;
  forwardPasses: number;
}

function checkTemperature(temperature: number): void {
  if (!(temperature >= 0) || !Number.isFinite(temperature))
    throw new Error(`sampleMasked: temperature must be a finite number ≥ 0, got ${temperature}`);
}

/**
 * p^(1/T) renormalised per position, with p(MASK) kept at 0 (SUBS); T = 0 puts all the mass on the most
 * probable token (the first one on a tie). T = 1 returns p itself.
 */
export function sharpen(p: Float32Array, vocab: number, maskId: number, temperature: number): Float32Array {
  checkTemperature(temperature);
  if (temperature === 1) return p;
  const out = new Float32Array(p.length);
  for (let off = 0; off < p.length; off += vocab) {
    if (temperature === 0) {
      let arg = -1;
      for (let v = 0; v < vocab; v++) if (v !== maskId && (arg < 0 || p[off + v] > p[off + arg])) arg = v;
      out[off + arg] = 1;
      continue;
    }
    // in log space, shifted by the maximum, so that a low temperature does not underflow every entry
    let max = -Infinity;
    for (let v = 0; v < vocab; v++)
      if (v !== maskId && p[off + v] > 0) max = Math.max(max, Math.log(p[off + v]));
    let sum = 0;
    for (let v = 0; v < vocab; v++) {
      const q = v === maskId || !(p[off + v] > 0) ? 0 : Math.exp((Math.log(p[off + v]) - max) / temperature);
      out[off + v] = q;
      sum += q;
    }
    for (let v = 0; v < vocab; v++) out[off + v] /= sum;
  }
  return out;
}

/**
 * One ancestral update from t to s for every masked position: unnormalised weights q(v) = p(v)(t−s)
 * and q(MASK) = s, drawn by an exponential race argmax q(v)/E_v, E_v = 1e-10 − ln(U_v + 1e-10).
 * Unmasked positions are copied (no re-masking). Uniforms are drawn only for masked positions, in
 * position order, then vocabulary order.
 */
export function ancestralUpdate(
  x: Int32Array,
  p: Float32Array,
  t: number,
  s: number,
  vocab: number,
  maskId: number,
  rng: Rng,
): Int32Array {
  const next = new Int32Array(x);
  const reveal = t - s;
  for (let r = 0; r < x.length; r++) {
    if (x[r] !== maskId) continue;
    const off = r * vocab;
    let best = -Infinity;
    let arg = 0;
    for (let v = 0; v < vocab; v++) {
      const q = v === maskId ? s : p[off + v] * reveal;
      const e = 1e-10 - Math.log(rng.uniform() + 1e-10);
      const score = q / e;
      if (score > best) {
        best = score;
        arg = v;
      }
    }
    next[r] = arg;
  }
  return next;
}

/** Greedy clean-up: every remaining MASK becomes argmax p (SUBS already gives p(MASK) = 0). */
export function argmaxFill(x: Int32Array, p: Float32Array, vocab: number, maskId: number): Int32Array {
  const out = new Int32Array(x);
  for (let r = 0; r < x.length; r++) {
    if (x[r] !== maskId) continue;
    const off = r * vocab;
    let best = -Infinity;
    let arg = 0;
    for (let v = 0; v < vocab; v++) {
      if (v !== maskId && p[off + v] > best) {
        best = p[off + v];
        arg = v;
      }
    }
    out[r] = arg;
  }
  return out;
}

/** ancestralUpdate row by row, each row with its own generator. */
function rowwiseUpdate(
  x: Int32Array,
  p: Float32Array,
  t: number,
  s: number,
  vocab: number,
  maskId: number,
  rngs: readonly Rng[],
  m: number,
): Int32Array {
  const next = new Int32Array(x.length);
  rngs.forEach((rng, b) => {
    const row = x.subarray(b * m, (b + 1) * m);
    next.set(
      ancestralUpdate(row, p.subarray(b * m * vocab, (b + 1) * m * vocab), t, s, vocab, maskId, rng),
      b * m,
    );
  });
  return next;
}

function sameTokens(a: Int32Array, b: Int32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export async function sampleMasked(o: MaskedSamplerOptions): Promise<MaskedResult> {
  const n = o.template.length;
  if (o.fixed.length !== n)
    throw new Error(`sampleMasked: keep mask has ${o.fixed.length} entries for ${n} tokens`);
  const rowRngs = Array.isArray(o.rng) ? (o.rng as readonly Rng[]) : null;
  const rowLength = rowRngs ? n / rowRngs.length : n;
  if (rowRngs && (rowRngs.length === 0 || !Number.isInteger(rowLength))) {
    throw new Error(
      `sampleMasked: ${rowRngs.length} row generators do not split ${n} tokens into equal rows`,
    );
  }
  const useCache = o.cache ?? true;
  const temperature = o.temperature ?? 1;
  checkTemperature(temperature); // before any forward pass
  let x: Int32Array = new Int32Array(n);
  for (let i = 0; i < n; i++) x[i] = o.fixed[i] ? o.template[i] : o.maskId;
  const eps = o.eps ?? SAMPLER_TIME_EPS;
  const times = samplerTimes(o.steps, eps);
  const dt = (1 - eps) / o.steps;
  let passes = 0;
  let p: Float32Array | null = null;
  let vocab = o.vocab ?? 0;
  const probs = async (): Promise<Float32Array> => {
    passes++;
    const q = await o.probabilities(x);
    if (!vocab) vocab = q.length / n;
    if (!Number.isInteger(vocab) || q.length !== n * vocab || o.maskId >= vocab) {
      throw new Error(
        `sampleMasked: ${q.length} probabilities do not fit ${n} positions (vocabulary ${vocab})`,
      );
    }
    return q;
  };
  if (o.onStep) await o.onStep({ step: 0, steps: o.steps, tokens: x, forward: false });
  for (let j = 0; j < o.steps; j++) {
    const t = times[j];
    const forward = p === null;
    if (p === null) {
      const q = await probs();
      p = sharpen(q, vocab, o.maskId, temperature);
    }
    const next = rowRngs
      ? rowwiseUpdate(x, p, t, t - dt, vocab, o.maskId, rowRngs, rowLength)
      : ancestralUpdate(x, p, t, t - dt, vocab, o.maskId, o.rng as Rng);
    if (!useCache || !sameTokens(next, x)) p = null;
    x = next;
    if (o.onStep) await o.onStep({ step: j + 1, steps: o.steps, tokens: x, forward });
  }
  if (x.includes(o.maskId)) {
    if (p === null) p = await probs();
    x = argmaxFill(x, p, vocab, o.maskId);
  }
  return { tokens: x, forwardPasses: passes };
}
