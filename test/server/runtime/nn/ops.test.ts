import { tf } from '../../../../server/runtime';
import {
  geluTanh,
  groupNorm,
  layerNorm,
  linear,
  matMul2d,
  matMulNT,
  modulate,
  rmsNorm,
  silu,
  upsampleNearest2x,
} from '../../../../server/runtime/nn/ops';
import { BACKENDS, gradCheck, maxAbsDiff, randn, useBackend } from '../../../helpers/gradcheck';

const TOL = 2e-2;

describe.each(BACKENDS)('nn ops on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  test('matMul2d and matMulNT match tf.matMul; gradients match finite differences', () => {
    const a = randn([3, 5], 1);
    const b = randn([5, 4], 2);
    const c = randn([4, 5], 3);
    expect(maxAbsDiff(matMul2d(a as tf.Tensor2D, b as tf.Tensor2D), tf.matMul(a, b))).toBeLessThan(1e-5);
    expect(
      maxAbsDiff(matMulNT(a as tf.Tensor2D, c as tf.Tensor2D), tf.matMul(a, c, false, true)),
    ).toBeLessThan(1e-5);
    for (const e of gradCheck((x, y) => matMul2d(x as tf.Tensor2D, y as tf.Tensor2D), [a, b]).relErrors) {
      expect(e).toBeLessThan(TOL);
    }
    for (const e of gradCheck((x, y) => matMulNT(x as tf.Tensor2D, y as tf.Tensor2D), [a, c]).relErrors) {
      expect(e).toBeLessThan(TOL);
    }
  });

  test('linear on rank 3 with and without bias', () => {
    const x = randn([2, 3, 5], 4);
    const w = randn([5, 6], 5);
    const b = randn([6], 6);
    const ref = tf.add(tf.reshape(tf.matMul(tf.reshape(x, [6, 5]), w), [2, 3, 6]), b);
    expect(linear(x, w, b).shape).toEqual([2, 3, 6]);
    expect(maxAbsDiff(linear(x, w, b), ref)).toBeLessThan(1e-5);
    for (const e of gradCheck((p, q, r) => linear(p, q, r), [x, w, b]).relErrors) expect(e).toBeLessThan(TOL);
    for (const e of gradCheck((p, q) => linear(p, q), [x, w]).relErrors) expect(e).toBeLessThan(TOL);
    expect(() => linear(randn([2, 4], 1), w)).toThrow(/4 features/);
  });

  test('linear gradients reach variables through tf.variableGrads', () => {
    const w = tf.variable(randn([5, 2], 8));
    const b = tf.variable(tf.zeros([2]));
    const x = randn([3, 5], 9);
    const { grads } = tf.variableGrads(() => tf.sum(linear(x, w, b)) as tf.Scalar, [w, b]);
    expect(maxAbsDiff(grads[w.name], tf.matMul(tf.transpose(x), tf.ones([3, 2])))).toBeLessThan(1e-5);
    expect(Array.from(grads[b.name].dataSync())).toEqual([3, 3]);
    w.dispose();
    b.dispose();
  });

  test('GELU-tanh equals the tanh form; SiLU equals x·σ(x)', () => {
    const x = tf.linspace(-6, 6, 101);
    const ref = tf.mul(
      tf.mul(x, 0.5),
      tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))),
    );
    expect(maxAbsDiff(geluTanh(x), ref)).toBeLessThan(1e-5);
    expect(maxAbsDiff(silu(x), tf.mul(x, tf.sigmoid(x)))).toBeLessThan(1e-6);
    const xs = randn([4, 6], 10, 2);
    for (const e of gradCheck((p) => geluTanh(p), [xs]).relErrors) expect(e).toBeLessThan(TOL);
    for (const e of gradCheck((p) => silu(p), [xs]).relErrors) expect(e).toBeLessThan(TOL);
  });

  test('layerNorm: zero mean, unit variance, no affine; gradient', () => {
    const x = tf.add(randn([3, 4, 16], 11, 3), 5);
    const y = layerNorm(x);
    const { mean, variance } = tf.moments(y, -1);
    expect(tf.max(tf.abs(mean)).dataSync()[0]).toBeLessThan(1e-5);
    expect(tf.max(tf.abs(tf.sub(variance, 1))).dataSync()[0]).toBeLessThan(1e-4);
    for (const e of gradCheck((p) => layerNorm(p), [randn([2, 8], 12)]).relErrors)
      expect(e).toBeLessThan(TOL);
  });

  test('rmsNorm matches x/√(mean x²+ε)·w; gradient in x and w', () => {
    const x = randn([2, 3, 8], 13);
    const w = randn([8], 14);
    const xs = x.arraySync() as number[][][];
    const ws = w.dataSync();
    const ref = xs.map((r) =>
      r.map((v) => {
        const ms = v.reduce((s, t) => s + t * t, 0) / v.length;
        return v.map((t, i) => (t / Math.sqrt(ms + 1e-6)) * ws[i]);
      }),
    );
    expect(maxAbsDiff(rmsNorm(x, w), tf.tensor(ref))).toBeLessThan(1e-5);
    for (const e of gradCheck((p, q) => rmsNorm(p, q), [randn([2, 8], 15), w]).relErrors)
      expect(e).toBeLessThan(TOL);
  });

  test('groupNorm (NHWC) matches a direct per-group computation; gradient', () => {
    const x = randn([2, 3, 3, 4], 16, 2);
    const gamma = randn([4], 17);
    const beta = randn([4], 18);
    const y = groupNorm(x as tf.Tensor4D, 2, gamma, beta);
    const xa = x.arraySync() as number[][][][];
    const ga = gamma.dataSync();
    const ba = beta.dataSync();
    const ref = xa.map((img) => {
      const out = img.map((row) => row.map((px) => px.slice()));
      for (let g = 0; g < 2; g++) {
        const vals: number[] = [];
        img.forEach((row) => row.forEach((px) => vals.push(px[2 * g], px[2 * g + 1])));
        const m = vals.reduce((s, v) => s + v, 0) / vals.length;
        const v = vals.reduce((s, t) => s + (t - m) ** 2, 0) / vals.length;
        img.forEach((row, i) =>
          row.forEach((px, j) => {
            for (const c of [2 * g, 2 * g + 1])
              out[i][j][c] = ((px[c] - m) / Math.sqrt(v + 1e-6)) * ga[c] + ba[c];
          }),
        );
      }
      return out;
    });
    expect(maxAbsDiff(y, tf.tensor(ref))).toBeLessThan(1e-4);
    for (const e of gradCheck(
      (p, q, r) => groupNorm(p as tf.Tensor4D, 2, q, r),
      [randn([1, 2, 2, 4], 19), gamma, beta],
    ).relErrors) {
      expect(e).toBeLessThan(TOL);
    }
  });

  test('modulate broadcasts per-sample shift/scale over tokens; gradient', () => {
    const x = randn([2, 3, 4], 20);
    const shift = randn([2, 4], 21);
    const scale = randn([2, 4], 22);
    const y = modulate(x, shift, scale);
    const ref = tf.add(tf.mul(x, tf.add(1, tf.reshape(scale, [2, 1, 4]))), tf.reshape(shift, [2, 1, 4]));
    expect(maxAbsDiff(y, ref)).toBeLessThan(1e-6);
    for (const e of gradCheck((p, q, r) => modulate(p, q, r), [x, shift, scale]).relErrors)
      expect(e).toBeLessThan(TOL);
  });

  test('upsampleNearest2x equals nearest-neighbour resize; gradient', () => {
    const x = randn([2, 3, 2, 3], 23);
    const ref = tf.image.resizeNearestNeighbor(x as tf.Tensor4D, [6, 4]);
    expect(maxAbsDiff(upsampleNearest2x(x as tf.Tensor4D), ref)).toBe(0);
    for (const e of gradCheck((p) => upsampleNearest2x(p as tf.Tensor4D), [randn([1, 2, 2, 2], 24)])
      .relErrors) {
      expect(e).toBeLessThan(TOL);
    }
  });
});
