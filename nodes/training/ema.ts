/**
 * Exponential moving average of the trained weights (spec §2.4): it equals the live weights up to
 * optimiser step `startStep` and is updated e ← d·e + (1 − d)·w after every later step.
 */
import { nativeEmaUpdate } from '../../server/runtime/native-kernels';
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
      // assign() shares the new value's storage and takes its own reference: the temporaries must still
      // be disposed, or every step keeps a full copy of the weights alive.
      if (!s) {
        const copy = tf.clone(w);
        this.shadow.set(name, tf.variable(copy, false));
        copy.dispose();
        continue;
      }
      if (step <= this.cfg.startStep) {
        s.assign(w);
        continue;
      }
      if (nativeEmaUpdate(tf, s, w, this.cfg.decay)) continue;
      const next = tf.tidy(() => tf.add(tf.mul(s, this.cfg.decay), tf.mul(w, 1 - this.cfg.decay)));
      s.assign(next);
      next.dispose();
    }
  }

  dispose(): void {
    for (const s of this.shadow.values()) s.dispose();
    this.shadow.clear();
  }
}
