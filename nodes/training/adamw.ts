/**
 * AdamW as the reference trains with it (spec §2.4): PyTorch's update rule with decoupled weight decay,
 * a linear warm-up lr_k = lr·min(1, k/W) where k counts optimiser steps already taken (so the first
 * step uses lr 0) and optionally a decay after it (lr-schedule.ts), global-norm clipping, and gradients
 * summed over micro-batches.
 */
import { tf } from '../../server/runtime/tf';
import { nativeAdamW, nativeSumSquares } from '../../server/runtime/native-kernels';
import { learningRate, type LrSchedule, validateLrSchedule } from './lr-schedule';

/** A loss or gradient that is NaN or infinite: the step is refused and nothing is updated. */
export class NonFiniteError extends Error {
  override name = 'NonFiniteError';
}

export interface AdamWConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  warmupSteps: number;
  /** Clip the global L2 norm of all gradients to this value; 0 disables clipping. */
  clipNorm: number;
  /** After the warm-up: hold lr (the reference), or decay it to minLr by step decaySteps. */
  schedule?: LrSchedule;
  decaySteps?: number;
  /** Step at which the decay begins (0: the end of the warm-up); see LrScheduleConfig. */
  decayStart?: number;
  minLr?: number;
}

export const ADAMW_DEFAULTS: AdamWConfig = {
  lr: 3e-5,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0.01,
  warmupSteps: 2000,
  clipNorm: 2.0,
};

/** One trainable tensor. `rowMask` ([rows, 1] of 0/1) restricts training to some rows (the mask-token row). */
export interface TrainParam {
  name: string;
  variable: tf.Variable;
  rowMask?: tf.Tensor2D;
}

export type Grads = Map<string, tf.Tensor>;

/** √(Σ‖g‖²) over every gradient. */
export function globalNorm(grads: Iterable<tf.Tensor>): number {
  let sq = 0;
  for (const g of grads) sq += nativeSumSquares(tf, g) ?? tf.tidy(() => tf.sum(tf.square(g)).dataSync()[0]);
  return Math.sqrt(sq);
}

/** Adds `more` into `acc` (summing micro-batch gradients); disposes what it replaces and `more`. */
export function accumulate(acc: Grads, more: Grads): void {
  for (const [name, g] of more) {
    const prev = acc.get(name);
    if (prev) {
      acc.set(name, tf.add(prev, g));
      prev.dispose();
      g.dispose();
    } else {
      acc.set(name, g);
    }
  }
}

export interface StepReport {
  lr: number;
  /** Norm before clipping. */
  gradNorm: number;
  clipped: boolean;
}

export class AdamW {
  /** Optimiser steps taken so far (k). */
  stepsTaken = 0;
  /**
   * The step k at which the moments last started from zero: 0 for a fresh run, the recorded step for a run
   * warm-started from exported weights. Bias correction counts from here, and a warm start ramps the rate
   * up again over warmupSteps (the schedule itself still follows k).
   */
  momentsSince = 0;
  readonly m = new Map<string, tf.Variable>();
  readonly v = new Map<string, tf.Variable>();

  constructor(readonly cfg: AdamWConfig) {
    for (const [k, val] of Object.entries(cfg)) {
      if (k !== 'schedule' && !Number.isFinite(val))
        throw new Error(`AdamW: '${k}' must be a finite number, got ${val}`);
    }
    if (cfg.lr < 0 || cfg.eps <= 0 || cfg.beta1 < 0 || cfg.beta1 >= 1 || cfg.beta2 < 0 || cfg.beta2 >= 1) {
      throw new Error('AdamW: need lr ≥ 0, eps > 0 and betas in [0, 1)');
    }
    try {
      validateLrSchedule(cfg);
    } catch (e) {
      throw new Error(`AdamW: ${(e as Error).message}`);
    }
  }

  private moment(store: Map<string, tf.Variable>, p: TrainParam): tf.Variable {
    let s = store.get(p.name);
    if (!s) {
      const zeros = tf.zerosLike(p.variable);
      s = tf.variable(zeros, false);
      zeros.dispose();
      store.set(p.name, s);
    }
    return s;
  }

  /**
   * Clips, then applies one AdamW update to every parameter that has a gradient. The gradients are
   * consumed (disposed). Row-masked parameters only move on their unmasked rows.
   */
  step(params: readonly TrainParam[], grads: Grads): StepReport {
    const masked = new Map<string, tf.Tensor>();
    for (const p of params) {
      const g = grads.get(p.name);
      if (!g) continue;
      masked.set(p.name, p.rowMask ? tf.mul(g, p.rowMask) : g);
      if (p.rowMask) g.dispose();
    }
    grads.clear();
    const gradNorm = globalNorm(masked.values());
    if (!Number.isFinite(gradNorm)) {
      for (const g of masked.values()) g.dispose();
      throw new NonFiniteError(`the gradient norm is ${gradNorm}`);
    }
    const clipped = this.cfg.clipNorm > 0 && gradNorm > this.cfg.clipNorm;
    const coef = clipped ? this.cfg.clipNorm / gradNorm : 1;
    const lr = this.rate();
    this.stepsTaken++;
    const t = this.stepsTaken - this.momentsSince;
    const { beta1, beta2, eps, weightDecay } = this.cfg;
    const bc1 = 1 - Math.pow(beta1, t);
    const bc2 = 1 - Math.pow(beta2, t);
    for (const p of params) {
      const g0 = masked.get(p.name);
      if (!g0) continue;
      const m = this.moment(this.m, p);
      const v = this.moment(this.v, p);
      // One fused in-place pass over the wasm heap when the native kernels are loaded (same rule).
      const hp = { lr, beta1, beta2, eps, weightDecay, bc1, bc2, gradScale: coef };
      if (!p.rowMask && nativeAdamW(tf, p.variable, g0, m, v, hp)) {
        g0.dispose();
        continue;
      }
      tf.tidy(() => {
        const g = coef === 1 ? g0 : tf.mul(g0, coef);
        const mNew = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
        const vNew = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
        const decayed = tf.mul(p.variable, 1 - lr * weightDecay);
        const denom = tf.add(tf.div(tf.sqrt(vNew), Math.sqrt(bc2)), eps);
        let w = tf.sub(decayed, tf.mul(tf.div(mNew, denom), lr / bc1));
        if (p.rowMask) w = tf.add(tf.mul(w, p.rowMask), tf.mul(p.variable, tf.sub(1, p.rowMask)));
        m.assign(mNew);
        v.assign(vNew);
        p.variable.assign(w);
      });
      g0.dispose();
    }
    return { lr, gradNorm, clipped };
  }

  /** The rate of the next update: the schedule at k, re-warmed after a warm start. */
  rate(): number {
    const lr = learningRate(this.cfg, this.stepsTaken);
    const W = this.cfg.warmupSteps;
    if (this.momentsSince === 0 || W <= 0) return lr;
    return lr * Math.min(1, (this.stepsTaken - this.momentsSince) / W);
  }

  dispose(): void {
    for (const s of [...this.m.values(), ...this.v.values()]) s.dispose();
    this.m.clear();
    this.v.clear();
  }
}
