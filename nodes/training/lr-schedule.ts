/**
 * Learning-rate schedules: a linear warm-up (spec §2.4), then the peak rate held (the reference) or decayed
 * to a floor. Decay matters for small models trained from scratch: at a constant 1e-3 the weights keep
 * jittering around a minimum, and annealing turns that into sharper samples.
 */

export const LR_SCHEDULES = ['constant', 'cosine', 'linear'] as const;
export type LrSchedule = (typeof LR_SCHEDULES)[number];

export interface LrScheduleConfig {
  /** Peak rate, reached at the end of the warm-up. */
  lr: number;
  /** Optimiser steps of linear warm-up from 0; 0 means none. */
  warmupSteps: number;
  schedule?: LrSchedule;
  /** The step count k at which a decaying schedule reaches minLr (and stays there). */
  decaySteps?: number;
  /**
   * The step count at which the decay begins (the rate holds at lr from the end of the warm-up until
   * then); 0 or below the warm-up means the end of the warm-up. Lets a continued run start a new cycle
   * from its current step (a warm restart) with a chosen peak and length.
   */
  decayStart?: number;
  /** Floor of a decaying schedule. */
  minLr?: number;
}

/** Checks a schedule; the message names the setting so a node can report it against its input. */
export function validateLrSchedule(cfg: LrScheduleConfig): void {
  const schedule = cfg.schedule ?? 'constant';
  if (!(LR_SCHEDULES as readonly string[]).includes(schedule))
    throw new Error(`schedule must be one of ${LR_SCHEDULES.join(', ')}, got ${JSON.stringify(schedule)}`);
  if (schedule === 'constant') return;
  const decay = cfg.decaySteps ?? 0;
  if (!Number.isInteger(decay) || decay <= cfg.warmupSteps)
    throw new Error(
      `decay_steps must be an integer above warmup_steps (${cfg.warmupSteps}) for a ${schedule} schedule, got ${decay}`,
    );
  const start = decayStartOf(cfg);
  if (!Number.isInteger(cfg.decayStart ?? 0) || start >= decay)
    throw new Error(`decay_start must be an integer below decay_steps (${decay}), got ${cfg.decayStart}`);
  const floor = cfg.minLr ?? 0;
  if (!(floor >= 0 && floor <= cfg.lr))
    throw new Error(`min_lr must lie in [0, lr = ${cfg.lr}], got ${floor}`);
}

/** Where a decaying schedule starts: decayStart, but never inside the warm-up. */
function decayStartOf(cfg: LrScheduleConfig): number {
  return Math.max(cfg.warmupSteps, cfg.decayStart ?? 0);
}

/**
 * The rate for the update after k steps were taken: lr·k/W during warm-up (so the first step uses 0), then
 * lr (constant), or lr until S = max(W, decayStart) and from there down to minLr at decaySteps:
 * ½(1 + cos πp) (cosine) or 1 − p (linear), p = (k − S)/(decaySteps − S).
 */
export function learningRate(cfg: LrScheduleConfig, k: number): number {
  const W = cfg.warmupSteps;
  if (W > 0 && k < W) return (cfg.lr * k) / W;
  const schedule = cfg.schedule ?? 'constant';
  if (schedule === 'constant') return cfg.lr;
  const floor = cfg.minLr ?? 0;
  const S = decayStartOf(cfg);
  const p = Math.min(1, Math.max(0, (k - S) / ((cfg.decaySteps ?? S + 1) - S)));
  const shape = schedule === 'cosine' ? 0.5 * (1 + Math.cos(Math.PI * p)) : 1 - p;
  return floor + (cfg.lr - floor) * shape;
}
