import {
  drawTrainingSigmas,
  flowMatchSigmas,
  shiftSigma,
  truncatedSigmas,
} from '../../../nodes/sampling/flow-schedule';
import { Rng } from '../../../nodes/sampling/random';

describe('inference sigmas (spec §3.1, §5 item 9)', () => {
  it('has N+1 strictly decreasing values from 1 to 0 with the SD3 defaults', () => {
    const s = flowMatchSigmas(28, 3);
    expect(s).toHaveLength(29);
    expect(s[0]).toBe(1);
    expect(s[28]).toBe(0);
    for (let i = 1; i < s.length; i++) expect(s[i]).toBeLessThan(s[i - 1]);
    expect(s[1]).toBeCloseTo(0.98738, 5);
    expect(s[27]).toBeCloseTo(0.0089286, 7);
  });

  it('uses σ_min′ = shift(0.001) and shifts it again', () => {
    const sMin = (3 * 0.001) / (1 + 2 * 0.001);
    expect(sMin).toBeCloseTo(0.00299401, 8);
    const s = flowMatchSigmas(5, 3);
    const u = [1, 1 + (sMin - 1) * 0.25, 1 + (sMin - 1) * 0.5, 1 + (sMin - 1) * 0.75, sMin];
    u.forEach((ui, i) => expect(s[i]).toBeCloseTo(shiftSigma(ui, 3), 12));
  });

  it('becomes linspace(1, 0.001, N) then 0 with shift 1', () => {
    const n = 10;
    const s = flowMatchSigmas(n, 1);
    for (let i = 0; i < n; i++) expect(s[i]).toBeCloseTo(1 + ((0.001 - 1) * i) / (n - 1), 12);
    expect(s[n]).toBe(0);
  });

  it('truncates for partial denoising to the tail of the longer schedule', () => {
    const full = flowMatchSigmas(20, 3);
    const t = truncatedSigmas(10, 3, 0.5);
    expect(t).toEqual(full.slice(10));
    expect(t).toHaveLength(11);
    expect(t[t.length - 1]).toBe(0);
    expect(truncatedSigmas(7, 3, 1)).toEqual(flowMatchSigmas(7, 3));
  });
});

describe('training sigma draw (spec §2.2, §5 item 8)', () => {
  it('draws multiples of 0.001 in [0.001, 1] with logit-normal mass in the middle', () => {
    const rng = new Rng(7);
    const s = drawTrainingSigmas(rng, 20000);
    let mid = 0;
    for (const v of s) {
      expect(v).toBeGreaterThanOrEqual(0.001);
      expect(v).toBeLessThanOrEqual(1);
      expect(Math.abs(v * 1000 - Math.round(v * 1000))).toBeLessThan(1e-9);
      if (v > 0.25 && v <= 0.75) mid++;
    }
    // P(|n| < logit(0.75)) for n ~ N(0,1): logit(0.75) = 1.0986 → 0.728
    expect(mid / s.length).toBeGreaterThan(0.71);
    expect(mid / s.length).toBeLessThan(0.745);
  });

  it('maps u to k = ⌊1000u⌋ and σ = (1000 − k)/1000', () => {
    const a = new Rng(3);
    const b = new Rng(3);
    const s = drawTrainingSigmas(a, 50);
    for (const v of s) {
      const u = 1 / (1 + Math.exp(-b.normal()));
      expect(v).toBe((1000 - Math.floor(1000 * u)) / 1000);
    }
  });
});
