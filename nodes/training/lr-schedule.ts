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
  const floor = cfg.minLr ?? 0;
  if (!(floor >= 0 && floor <= cfg.lr))
    throw new Error(`min_lr must lie in [0, lr = ${cfg.lr}], got ${floor}`);
}

/**
 * The rate for the update after k steps were taken: lr·k/W during warm-up (so the first step uses 0), then
 * lr (constant), or from lr down to minLr over W..decaySteps: ½(1 + cos πp) (cosine) or 1 − p (linear).
 */
export function learningRate(cfg: LrScheduleConfig, k: number): number {
  const W = cfg.warmupSteps;
  if (W > 0 && k < W) return (cfg.lr * k) / W;
  const schedule = cfg.schedule ?? 'constant';
  if (schedule === 'constant') return cfg.lr;
  const floor = cfg.minLr ?? 0;
  const p = Math.min(1, Math.max(0, (k - W) / ((cfg.decaySteps ?? W + 1) - W)));
  const shape = schedule === 'cosine' ? 0.5 * (1 + Math.cos(Math.PI * p)) : 1 - p;
  return floor + (cfg.lr - floor) * shape;
}
