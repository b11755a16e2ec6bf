import { tf } from '../../../../server/runtime';
import { Conv2d, conv2d, Embedding, GroupNorm, Linear, RMSNorm } from '../../../../server/runtime/nn/layers';
import { BACKENDS, gradCheck, maxAbsDiff, randn, useBackend } from '../../../helpers/gradcheck';

/** Direct NCHW convolution with PyTorch (out, in, kh, kw) weights and symmetric zero padding, NHWC in/out. */
function naiveConv(
  x: number[][][][],
  w: number[][][][],
  bias: number[],
  stride: number,
  pad: number,
): number[][][][] {
  const H = x[0].length;
  const W = x[0][0].length;
  const k = w[0][0].length;
  const Ho = Math.floor((H + 2 * pad - k) / stride) + 1;
  const Wo = Math.floor((W + 2 * pad - k) / stride) + 1;
  return x.map((img) =>
    Array.from({ length: Ho }, (_, i) =>
      Array.from({ length: Wo }, (_, j) =>
        w.map((wo, o) => {
          let s = bias[o];
          wo.forEach((wi, c) => {
            for (let dy = 0; dy < k; dy++) {
              for (let dx = 0; dx < k; dx++) {
                const yy = i * stride + dy - pad;
                const xx = j * stride + dx - pad;
                if (yy >= 0 && yy < H && xx >= 0 && xx < W) s += wi[dy][dx] * img[yy][xx][c];
              }
            }
          });
          return s;
        }),
      ),
    ),
  );
}

describe.each(BACKENDS)('layers on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  test.each([
    [3, 1, 1],
    [3, 2, 0],
    [3, 2, 1],
    [1, 1, 0],
    [2, 2, 0],
  ])(
    'Conv2d k=%i stride=%i pad=%i loads PyTorch weights and matches a direct convolution',
    (k, stride, pad) => {
      const conv = new Conv2d(3, 4, k, { stride, padding: pad });
      const wT = randn([4, 3, k, k], 1);
      const b = randn([4], 2);
      conv.loadState({ weight: wT, bias: b });
      const x = randn([2, 5, 6, 3], 3);
      const ref = naiveConv(
        x.arraySync() as number[][][][],
        wT.arraySync() as number[][][][],
        Array.from(b.dataSync()),
        stride,
        pad,
      );
      expect(maxAbsDiff(conv.forward(x as tf.Tensor4D), tf.tensor(ref))).toBeLessThan(1e-4);
      conv.dispose();
    },
  );

  test('Linear loads (out, in) weights: y = x·Wᵀ + b', () => {
    const lin = new Linear(3, 2);
    lin.loadState({ weight: tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]), bias: tf.tensor1d([10, 20]) });
    expect(Array.from(lin.forward(tf.tensor2d([1, 1, 1], [1, 3])).dataSync())).toEqual([16, 35]);
    lin.dispose();
  });

  test('Embedding, RMSNorm and GroupNorm modules compute and differentiate', () => {
    const emb = new Embedding(6, 3).initialize(1);
    const rows = emb.forward(tf.tensor1d([5, 0, 5], 'int32'));
    expect(rows.shape).toEqual([3, 3]);
    expect(maxAbsDiff(tf.slice(rows, [0, 0], [1, 3]), tf.slice(emb.weight.value, [5, 0], [1, 3]))).toBe(0);
    const rms = new RMSNorm(4).initialize(0);
    const gn = new GroupNorm(2, 4).initialize(0);
    const x = randn([1, 2, 2, 4], 4);
    for (const e of gradCheck((p) => rms.forward(p), [x]).relErrors) expect(e).toBeLessThan(2e-2);
    for (const e of gradCheck((p) => gn.forward(p as tf.Tensor4D), [x]).relErrors)
      expect(e).toBeLessThan(2e-2);
    [emb, rms, gn].forEach((m) => m.dispose());
  });

  test('conv2d input gradient matches finite differences', () => {
    const w = randn([3, 3, 2, 2], 5);
    const x = randn([1, 4, 4, 2], 6);
    for (const e of gradCheck((p) => conv2d(p as tf.Tensor4D, w as tf.Tensor4D, undefined, 2, 1), [x])
      .relErrors) {
      expect(e).toBeLessThan(2e-2);
    }
  });
});

describe.each(BACKENDS)(
  'layer weight gradients on %s (wasm: the runtime supplies these kernels)',
  (backend) => {
    beforeAll(async () => {
      await useBackend(backend);
    });

    test('conv2d weight and bias gradients', () => {
      const w = randn([3, 3, 2, 2], 5);
      const b = randn([2], 7);
      const x = randn([1, 4, 4, 2], 6);
      for (const stride of [1, 2]) {
        const r = gradCheck((p, q, s) => conv2d(p as tf.Tensor4D, q as tf.Tensor4D, s, stride, 1), [x, w, b]);
        for (const e of r.relErrors) expect(e).toBeLessThan(2e-2);
      }
    });

    test('embedding table gradient', () => {
      const table = randn([5, 3], 8);
      const ids = tf.tensor1d([1, 3, 1], 'int32');
      for (const e of gradCheck((t) => tf.gather(t, ids), [table]).relErrors) expect(e).toBeLessThan(2e-2);
    });
  },
);
