import { tf } from '../../../../server/runtime';
import { attention } from '../../../../server/runtime/nn/attention';
import { BACKENDS, gradCheck, maxAbsDiff, randn, useBackend } from '../../../helpers/gradcheck';

/** Direct per-(batch, head) loop in JS numbers. */
function naive(
  q: tf.Tensor3D,
  k: tf.Tensor3D,
  v: tf.Tensor3D,
  heads: number,
  scale: number,
  bias?: tf.Tensor3D,
): number[][][] {
  const Q = q.arraySync();
  const K = k.arraySync();
  const V = v.arraySync();
  const Bi = bias?.arraySync();
  const dh = Q[0][0].length / heads;
  return Q.map((qb, b) =>
    qb.map((qi, i) => {
      const out = new Array(Q[0][0].length).fill(0);
      for (let h = 0; h < heads; h++) {
        const s = K[b].map((kj, j) => {
          let d = 0;
          for (let c = 0; c < dh; c++) d += qi[h * dh + c] * kj[h * dh + c];
          return d * scale + (Bi ? Bi[h][i][j] : 0);
        });
        const m = Math.max(...s);
        const e = s.map((x) => Math.exp(x - m));
        const z = e.reduce((a, x) => a + x, 0);
        e.forEach((w, j) => {
          for (let c = 0; c < dh; c++) out[h * dh + c] += (w / z) * V[b][j][h * dh + c];
        });
      }
      return out;
    }),
  );
}

describe.each(BACKENDS)('attention on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  test('per-head and batched paths equal a direct computation, with and without bias', () => {
    const q = randn([2, 5, 8], 1) as tf.Tensor3D;
    const k = randn([2, 7, 8], 2) as tf.Tensor3D;
    const v = randn([2, 7, 8], 3) as tf.Tensor3D;
    const bias = randn([2, 5, 7], 4) as tf.Tensor3D;
    const ref = tf.tensor(naive(q, k, v, 2, 1 / 2));
    expect(maxAbsDiff(attention(q, k, v, { heads: 2, mode: 'per-head' }), ref)).toBeLessThan(1e-5);
    expect(maxAbsDiff(attention(q, k, v, { heads: 2, mode: 'batched' }), ref)).toBeLessThan(1e-5);
    const refB = tf.tensor(naive(q, k, v, 2, 1, bias));
    expect(maxAbsDiff(attention(q, k, v, { heads: 2, scale: 1, bias, mode: 'per-head' }), refB)).toBeLessThan(
      1e-5,
    );
    expect(maxAbsDiff(attention(q, k, v, { heads: 2, scale: 1, bias, mode: 'batched' }), refB)).toBeLessThan(
      1e-5,
    );
  });

  test('per-head gradient in q, k, v and bias matches finite differences', () => {
    const q = randn([2, 3, 4], 5);
    const k = randn([2, 3, 4], 6);
    const v = randn([2, 3, 4], 7);
    const bias = randn([2, 3, 3], 8);
    const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor): tf.Tensor =>
      attention(a as tf.Tensor3D, b as tf.Tensor3D, c as tf.Tensor3D, {
        heads: 2,
        bias: d as tf.Tensor3D,
        mode: 'per-head',
      });
    for (const e of gradCheck(f, [q, k, v, bias]).relErrors) expect(e).toBeLessThan(2e-2);
  });

  test('batched-path gradients match finite differences and the per-head custom gradient', () => {
    const q = randn([2, 3, 4], 15);
    const k = randn([2, 5, 4], 16);
    const v = randn([2, 5, 4], 17);
    const bias = randn([2, 3, 5], 18);
    const f = (mode: 'per-head' | 'batched') => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) =>
      attention(a as tf.Tensor3D, b as tf.Tensor3D, c as tf.Tensor3D, {
        heads: 2,
        bias: d as tf.Tensor3D,
        mode,
      });
    for (const e of gradCheck(f('batched'), [q, k, v, bias]).relErrors) expect(e).toBeLessThan(2e-2);
    const loss = (mode: 'per-head' | 'batched') => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) =>
      tf.sum(tf.mul(f(mode)(a, b, c, d), tf.range(0, 24).reshape([2, 3, 4])));
    const g1 = tf.grads(loss('per-head'))([q, k, v, bias]);
    const g2 = tf.grads(loss('batched'))([q, k, v, bias]);
    g1.forEach((g, i) => expect(maxAbsDiff(g, g2[i])).toBeLessThan(1e-4));
  });

  test('rejects widths that do not split into heads', () => {
    const q = randn([1, 2, 6], 9) as tf.Tensor3D;
    expect(() => attention(q, q, q, { heads: 4 })).toThrow(/not divisible/);
  });
});
