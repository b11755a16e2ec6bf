import { tf } from '../../../server/runtime/tf';
import {
  drawAntitheticTimes,
  elboWeight,
  elboWeightTensor,
  maskChance,
  samplerTimes,
  totalNoise,
} from '../../../nodes/sampling/masked-schedule';
import { Rng } from '../../../nodes/sampling/random';

describe('log-linear schedule (spec §2.3, §5 item 1)', () => {
  it('has w(t)·t = 1 in float32 for t in [1e-3, 1]', () => {
    const ts = Array.from({ length: 1000 }, (_, i) => 1e-3 + ((1 - 1e-3) * i) / 999);
    const w = elboWeightTensor(tf.tensor1d(ts));
    const wv = w.dataSync();
    w.dispose();
    ts.forEach((t, i) => expect(Math.abs(wv[i] * Math.fround(t) - 1)).toBeLessThan(1e-5));
    expect(wv[999]).toBeCloseTo(1, 4);
    expect(wv[0] / 1000).toBeCloseTo(1, 4);
  });

  it('is computed as σ′/(e^σ − 1) and π(t) = (1−η)t never reaches 1', () => {
    expect(elboWeight(0.3)).toBeCloseTo(1 / 0.3, 10);
    expect(1 - Math.exp(-totalNoise(0.4))).toBeCloseTo(maskChance(0.4), 12);
    expect(maskChance(1)).toBeCloseTo(0.999, 12);
  });
});

describe('antithetic time draw (spec §5 item 2)', () => {
  it('puts exactly one t in each stratum of [δ, 1]', () => {
    for (const n of [1, 2, 7, 64]) {
      const rng = new Rng(n);
      const ts = drawAntitheticTimes(rng, n);
      const delta = 1e-3;
      const counts = new Array(n).fill(0);
      for (const t of ts) {
        expect(t).toBeGreaterThanOrEqual(delta);
        expect(t).toBeLessThanOrEqual(1);
        counts[Math.floor(((t - delta) / (1 - delta)) * n)]++;
      }
      expect(counts).toEqual(new Array(n).fill(1));
      ts.forEach((t, i) => {
        expect(t).toBeGreaterThanOrEqual(delta + ((1 - delta) * i) / n - 1e-12);
        expect(t).toBeLessThan(delta + ((1 - delta) * (i + 1)) / n + 1e-12);
      });
    }
  });
});

describe('sampler time grid (spec §3.2)', () => {
  it('runs t_j = 1 − jΔ with Δ = (1 − 1e-5)/N', () => {
    const t = samplerTimes(4);
    expect(t).toHaveLength(5);
    expect(t[0]).toBe(1);
    expect(t[4]).toBeCloseTo(1e-5, 12);
    expect(t[1] - t[2]).toBeCloseTo((1 - 1e-5) / 4, 12);
  });
});
