import { tf } from '../../../server/runtime/tf';
import { accumulate, AdamW, ADAMW_DEFAULTS, globalNorm, type Grads } from '../../../nodes/training/adamw';
import { learningRate } from '../../../nodes/training/lr-schedule';
import { Ema } from '../../../nodes/training/ema';

/** PyTorch's AdamW on plain numbers, for comparison. */
function torchAdamW(
  w: number[],
  grads: number[][],
  lrs: number[],
  cfg: { beta1: number; beta2: number; eps: number; weightDecay: number },
): number[] {
  const m = w.map(() => 0);
  const v = w.map(() => 0);
  const p = w.slice();
  grads.forEach((g, k) => {
    const t = k + 1;
    const lr = lrs[k];
    for (let i = 0; i < p.length; i++) {
      p[i] *= 1 - lr * cfg.weightDecay;
      m[i] = cfg.beta1 * m[i] + (1 - cfg.beta1) * g[i];
      v[i] = cfg.beta2 * v[i] + (1 - cfg.beta2) * g[i] * g[i];
      const denom = Math.sqrt(v[i]) / Math.sqrt(1 - Math.pow(cfg.beta2, t)) + cfg.eps;
      p[i] -= (lr / (1 - Math.pow(cfg.beta1, t))) * (m[i] / denom);
    }
  });
  return p;
}

describe('AdamW', () => {
  it('warms up linearly from lr 0 at the first step', () => {
    const cfg = { lr: 1e-3, warmupSteps: 4 };
    expect([0, 1, 2, 4, 9].map((k) => learningRate(cfg, k))).toEqual([0, 2.5e-4, 5e-4, 1e-3, 1e-3]);
    expect(learningRate({ lr: 0.1, warmupSteps: 0 }, 0)).toBe(0.1);
  });

  it('refuses a decaying schedule that would end inside the warm-up', () => {
    expect(
      () => new AdamW({ ...ADAMW_DEFAULTS, warmupSteps: 10, schedule: 'cosine', decaySteps: 10 }),
    ).toThrow(/AdamW: decay_steps must be an integer above warmup_steps \(10\)/);
    expect(
      () => new AdamW({ ...ADAMW_DEFAULTS, lr: 1e-3, schedule: 'linear', decaySteps: 5000, minLr: 1e-2 }),
    ).toThrow(/min_lr must lie in \[0, lr = 0.001\]/);
  });

  it('matches the PyTorch update with decoupled weight decay', () => {
    const cfg = { ...ADAMW_DEFAULTS, lr: 0.05, warmupSteps: 2, weightDecay: 0.1, clipNorm: 0 };
    const w0 = [0.5, -1.2, 2.0];
    const gs = [
      [0.1, -0.3, 0.2],
      [0.4, 0.1, -0.2],
      [-0.2, 0.5, 0.3],
      [0.05, 0.05, -0.5],
    ];
    const variable = tf.variable(tf.tensor1d(w0));
    const opt = new AdamW(cfg);
    const lrs: number[] = [];
    for (const g of gs) lrs.push(opt.step([{ name: 'w', variable }], new Map([['w', tf.tensor1d(g)]])).lr);
    expect(lrs).toEqual([0, 0.025, 0.05, 0.05]);
    const expected = torchAdamW(w0, gs, lrs, cfg);
    const got = Array.from(variable.dataSync());
    got.forEach((x, i) => expect(x).toBeCloseTo(expected[i], 5));
  });

  it('clips the global norm to 2.0 by scaling every gradient by 2/norm', () => {
    const a = tf.variable(tf.zeros([2]));
    const b = tf.variable(tf.zeros([1]));
    // norm of (3, 4, 12) = 13
    const opt = new AdamW({
      ...ADAMW_DEFAULTS,
      lr: 1,
      warmupSteps: 0,
      weightDecay: 0,
      beta1: 0,
      beta2: 0,
      eps: 1e-30,
    });
    const rep = opt.step(
      [
        { name: 'a', variable: a },
        { name: 'b', variable: b },
      ],
      new Map([
        ['a', tf.tensor1d([3, 4])],
        ['b', tf.tensor1d([12])],
      ]),
    );
    expect(rep.gradNorm).toBeCloseTo(13, 5);
    expect(rep.clipped).toBe(true);
    // with β = 0 the first moment is the clipped gradient and the step is its sign
    expect(Array.from(opt.m.get('a')!.dataSync()).map((x) => x * (13 / 2))).toEqual([
      expect.closeTo(3, 4),
      expect.closeTo(4, 4),
    ]);
    expect(opt.m.get('b')!.dataSync()[0]).toBeCloseTo((12 * 2) / 13, 5);
    const small = new AdamW({ ...ADAMW_DEFAULTS, warmupSteps: 0 });
    expect(small.step([{ name: 'a', variable: a }], new Map([['a', tf.tensor1d([0.3, 0.4])]])).clipped).toBe(
      false,
    );
  });

  it('sums micro-batch gradients', () => {
    const acc: Grads = new Map();
    accumulate(acc, new Map([['w', tf.tensor1d([1, 2])]]));
    accumulate(acc, new Map([['w', tf.tensor1d([0.5, -1])]]));
    expect(Array.from(acc.get('w')!.dataSync())).toEqual([1.5, 1]);
    expect(globalNorm(acc.values())).toBeCloseTo(Math.sqrt(1.5 * 1.5 + 1), 6);
  });

  it('moves only the unmasked rows of a row-masked parameter, weight decay included', () => {
    const emb = tf.variable(tf.ones([3, 2]));
    const opt = new AdamW({ ...ADAMW_DEFAULTS, lr: 0.1, warmupSteps: 0, weightDecay: 0.5 });
    opt.step(
      [{ name: 'emb', variable: emb, rowMask: tf.tensor2d([[0], [0], [1]]) }],
      new Map([['emb', tf.fill([3, 2], 0.2)]]),
    );
    const rows = emb.arraySync() as number[][];
    expect(rows[0]).toEqual([1, 1]);
    expect(rows[1]).toEqual([1, 1]);
    expect(rows[2][0]).toBeLessThan(0.95);
  });
});

describe('EMA', () => {
  it('copies until the start step, then averages with the decay', () => {
    const ema = new Ema({ decay: 0.9, startStep: 1 });
    const w = tf.variable(tf.tensor1d([1]));
    ema.update(new Map([['w', w]]), 0);
    w.assign(tf.tensor1d([2]));
    ema.update(new Map([['w', w]]), 1);
    expect(ema.shadow.get('w')!.dataSync()[0]).toBe(2);
    w.assign(tf.tensor1d([12]));
    ema.update(new Map([['w', w]]), 2);
    expect(ema.shadow.get('w')!.dataSync()[0]).toBeCloseTo(0.9 * 2 + 0.1 * 12, 6);
  });

  it('keeps one tensor per weight however many steps it takes (no copy left behind per step)', () => {
    const ema = new Ema({ decay: 0.99, startStep: 0 });
    const w = tf.variable(tf.ones([64, 64]));
    const weights = new Map([['w', w]]);
    ema.update(weights, 1);
    const before = tf.memory().numTensors;
    for (let step = 2; step < 12; step++) ema.update(weights, step);
    expect(tf.memory().numTensors).toBe(before);
    ema.dispose();
    w.dispose();
  });
});
