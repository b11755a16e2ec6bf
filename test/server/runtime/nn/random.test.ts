import { deriveSeed, Rng } from '../../../../server/runtime/nn/random';

describe('Rng', () => {
  test('same seed and label give the same stream; labels and seeds separate streams', () => {
    const a = new Rng(42, 'w');
    const b = new Rng(42, 'w');
    const c = new Rng(42, 'v');
    const d = new Rng(43, 'w');
    const xa = Array.from({ length: 8 }, () => a.nextUint32());
    expect(Array.from({ length: 8 }, () => b.nextUint32())).toEqual(xa);
    expect(Array.from({ length: 8 }, () => c.nextUint32())).not.toEqual(xa);
    expect(Array.from({ length: 8 }, () => d.nextUint32())).not.toEqual(xa);
  });

  test('seeds beyond 2^32 are distinct', () => {
    expect(deriveSeed(2 ** 40)).not.toBe(deriveSeed(0));
    expect(deriveSeed(2 ** 53 - 1)).not.toBe(deriveSeed(2 ** 53 - 2));
  });

  test('uniform and normal have the right moments', () => {
    const r = new Rng(1);
    const u = r.fillUniform(new Float32Array(20000));
    const n = r.fillNormal(new Float32Array(20000));
    const mean = (x: Float32Array): number => x.reduce((s, v) => s + v, 0) / x.length;
    const varOf = (x: Float32Array): number => {
      const m = mean(x);
      return x.reduce((s, v) => s + (v - m) ** 2, 0) / x.length;
    };
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(mean(u)).toBeCloseTo(0.5, 1);
    expect(varOf(u)).toBeCloseTo(1 / 12, 2);
    expect(Math.abs(mean(n))).toBeLessThan(0.03);
    expect(varOf(n)).toBeCloseTo(1, 1);
  });
});
