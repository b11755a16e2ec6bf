/**
 * Exponential moving average of the trained weights (spec §2.4): it equals the live weights up to
 * optimiser step `startStep` and is updated e ← d·e + (1 − d)·w after every later step.
 */
import { tf } from '../../server/runtime/tf';

export interface EmaConfig {
  decay: number;
  startStep: number;
}

export class Ema {
  readonly shadow = new Map<string, tf.Variable>();

  constructor(readonly cfg: EmaConfig) {
    if (!(cfg.decay >= 0 && cfg.decay <= 1))
      throw new Error(`EMA: decay must be in [0, 1], got ${cfg.decay}`);
  }

  /** Call after optimiser step number `step` (1-based count of steps taken). */
  update(weights: ReadonlyMap<string, tf.Tensor>, step: number): void {
    for (const [name, w] of weights) {
      const s = this.shadow.get(name);
      if (!s) {
        this.shadow.set(name, tf.variable(tf.clone(w), false));
        continue;
      }
      if (step <= this.cfg.startStep) s.assign(w);
      else s.assign(tf.tidy(() => tf.add(tf.mul(s, this.cfg.decay), tf.mul(w, 1 - this.cfg.decay))));
    }
  }

  dispose(): void {
    for (const s of this.shadow.values()) s.dispose();
    this.shadow.clear();
  }
}
