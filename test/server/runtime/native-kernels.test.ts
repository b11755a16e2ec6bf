import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initRuntime, runtimeInfo, tf } from '../../../server/runtime';
import {
  adaLayerNorm,
  attention,
  gatedAdd,
  geluTanh,
  jointAttention,
  layerNorm,
  linear,
} from '../../../server/runtime/nn';
import {
  DEFAULT_ADDON_PATH,
  loadNativeKernels,
  nativeAdamW,
  nativeAddon,
  nativeEmaUpdate,
  nativeKernelsStatus,
  nativeSumSquares,
  nativeMatMulActive,
  registerNativeKernels,
  setNativeSpin,
  setNativeThreads,
  unregisterNativeKernels,
} from '../../../server/runtime/native-kernels';
import { ensureNativeAddon } from '../../helpers/native-addon';
import { Ema } from '../../../nodes/training/ema';

// Plain double-precision reference for op(A)·op(B) over equal or broadcast batches.
function referenceMatMul(
  a: Float32Array,
  aShape: number[],
  b: Float32Array,
  bShape: number[],
  ta: boolean,
  tb: boolean,
): Float32Array {
  const [ar, ac] = aShape.slice(-2);
  const [br, bc] = bShape.slice(-2);
  const m = ta ? ac : ar;
  const k = ta ? ar : ac;
  const n = tb ? br : bc;
  const batchA = a.length / (ar * ac);
  const batchB = b.length / (br * bc);
  const batch = Math.max(batchA, batchB);
  const out = new Float32Array(batch * m * n);
  for (let p = 0; p < batch; p++) {
    const ao = (batchA === 1 ? 0 : p) * ar * ac;
    const bo = (batchB === 1 ? 0 : p) * br * bc;
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) {
          const av = ta ? a[ao + q * ac + i] : a[ao + i * ac + q];
          const bv = tb ? b[bo + j * bc + q] : b[bo + q * bc + j];
          s += av * bv;
        }
        out[p * m * n + i * n + j] = s;
      }
  }
  return out;
}

function maxAbsDiff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  expect(x.length).toBe(y.length);
  let d = 0;
  for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i] - y[i]));
  return d;
}

/** Runs f and returns its result with the names of the tfjs kernels it ran. */
function withKernelLog<T>(f: () => T): { result: T; kernels: Set<string> } {
  const kernels = new Set<string>();
  const engine = tf.engine() as unknown as { runKernel: (n: string, i: unknown, a: unknown) => unknown };
  const runKernel = engine.runKernel.bind(engine);
  engine.runKernel = (n, i, a) => (kernels.add(n), runKernel(n, i, a));
  try {
    return { result: f(), kernels };
  } finally {
    engine.runKernel = runKernel;
  }
}

const root = path.resolve(__dirname, '../../..');

beforeAll(async () => {
  // Each checkout builds its own (gitignored) addon.
  ensureNativeAddon();
  // The runtime's wasm backend: threaded where it can be, so the heap is a SharedArrayBuffer.
  await initRuntime({ backend: 'wasm' });
});

afterAll(() => {
  unregisterNativeKernels(tf);
});

describe('native matmul kernels on the wasm backend', () => {
  let defaultThreads = 1;
  beforeAll(() => {
    const status = registerNativeKernels(tf);
    if (!status.loaded) throw new Error(`native kernels unavailable: ${status.reason}`);
    defaultThreads = status.threads ?? 1;
  });

  it('reports the BLAS library and the kernels it took over', () => {
    expect(runtimeInfo().nativeKernels).toMatch(/BLAS/i);
    expect(nativeMatMulActive(tf)).toBe(true);
    const status = nativeKernelsStatus();
    expect(status.loaded).toBe(true);
    expect(status.library).toMatch(/BLAS/i);
    expect(status.kernels).toEqual(
      expect.arrayContaining(['BatchMatMul', '_FusedMatMul', 'Sum', 'GatherV2']),
    );
    expect(tf.getKernel('BatchMatMul', 'wasm').kernelFunc).not.toBe(undefined);
  });

  const shapes: Array<{ name: string; a: number[]; b: number[] }> = [
    { name: '2-D', a: [37, 53], b: [53, 29] },
    { name: 'batched', a: [3, 17, 40], b: [3, 40, 23] },
    { name: 'rank-4 batched', a: [2, 3, 9, 16], b: [2, 3, 16, 11] },
    { name: 'batched A, one B', a: [4, 13, 24], b: [24, 19] },
    { name: 'one A, batched B', a: [13, 24], b: [4, 24, 19] },
  ];
  for (const { name, a: aShape, b: bShape } of shapes) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        it(`${name} transposeA=${ta} transposeB=${tb} matches the reference`, () => {
          // Stored shapes for op(A): swap the last two dims when transposed.
          const sa = ta ? [...aShape.slice(0, -2), aShape.at(-1)!, aShape.at(-2)!] : aShape;
          const sb = tb ? [...bShape.slice(0, -2), bShape.at(-1)!, bShape.at(-2)!] : bShape;
          const a = tf.randomNormal(sa, 0, 1, 'float32', 1);
          const b = tf.randomNormal(sb, 0, 1, 'float32', 2);
          const c = tf.matMul(a, b, ta, tb);
          const want = referenceMatMul(
            a.dataSync() as Float32Array,
            sa,
            b.dataSync() as Float32Array,
            sb,
            ta,
            tb,
          );
          expect(c.shape).toEqual([
            ...(aShape.length >= bShape.length ? aShape : bShape).slice(0, -2),
            aShape.at(-2),
            bShape.at(-1),
          ]);
          expect(maxAbsDiff(c.dataSync(), want)).toBeLessThan(1e-4);
          tf.dispose([a, b, c]);
        });
      }
    }
  }

  it('splits large products across threads (rows, columns and batch) without changing results', () => {
    const cases: Array<{ a: number[]; b: number[]; ta: boolean; tb: boolean }> = [
      { a: [301, 40], b: [40, 190], ta: false, tb: false }, // tall: split by rows
      { a: [40, 90], b: [40, 333], ta: true, tb: false }, // wide: split by columns
      { a: [150, 70], b: [250, 70], ta: false, tb: true },
      { a: [5, 70, 60], b: [5, 60, 80], ta: false, tb: false }, // batch >= threads
      { a: [2, 200, 60], b: [2, 60, 130], ta: false, tb: false }, // batch < threads (with 3)
    ];
    const defaultSpin = nativeKernelsStatus().spinUs!;
    expect(defaultSpin).toBeGreaterThan(0);
    try {
      // Workers that sleep between calls, and workers that spin (each call handed over while they spin).
      for (const [threads, spin] of [
        [2, 0],
        [3, 0],
        [2, defaultSpin],
        [3, 100_000],
      ]) {
        setNativeThreads(threads);
        setNativeSpin(spin);
        expect(nativeKernelsStatus()).toMatchObject({ threads, spinUs: spin });
        for (const { a: sa, b: sb, ta, tb } of cases) {
          const a = tf.randomNormal(sa, 0, 1, 'float32', 21);
          const b = tf.randomNormal(sb, 0, 1, 'float32', 22);
          const c = tf.matMul(a, b, ta, tb);
          const want = referenceMatMul(
            a.dataSync() as Float32Array,
            sa,
            b.dataSync() as Float32Array,
            sb,
            ta,
            tb,
          );
          expect(maxAbsDiff(c.dataSync(), want)).toBeLessThan(1e-3);
          tf.dispose([a, b, c]);
        }
      }
    } finally {
      setNativeThreads(defaultThreads);
      setNativeSpin(defaultSpin);
    }
  });

  it('gives the same gradients through tf.grad as the original wasm kernels', () => {
    const a = tf.randomNormal([3, 12, 20], 0, 1, 'float32', 3);
    const b = tf.randomNormal([3, 16, 20], 0, 1, 'float32', 4);
    const w = tf.randomNormal([20, 20], 0, 1, 'float32', 5);
    const v = tf.randomNormal([20, 8], 0, 1, 'float32', 6);
    // Forward uses NN, NT and TN products, batched and 2-D; backward adds TT.
    const loss = (x: tf.Tensor, y: tf.Tensor) => {
      const s = tf.matMul(x, y, false, true); // [3,12,16]
      const t = tf.matMul(s, y); // [3,12,20]
      const u = tf.matMul(x, t, true, false); // [3,20,20]
      const lin = tf.matMul(x.reshape([36, 20]), v); // [36,8]
      return tf.add(tf.sum(tf.mul(u, w)), tf.sum(tf.square(lin)));
    };
    const gradsOf = () => {
      const g = tf.grads(loss)([a, b]);
      const out = g.map((t) => t.dataSync().slice());
      tf.dispose(g);
      return out;
    };
    const native = gradsOf();
    unregisterNativeKernels(tf);
    const plain = gradsOf();
    registerNativeKernels(tf);
    expect(native).toHaveLength(2);
    for (let i = 0; i < 2; i++) {
      const scale = Math.max(...Array.from(plain[i], Math.abs));
      expect(maxAbsDiff(native[i], plain[i]) / scale).toBeLessThan(1e-5);
    }
    tf.dispose([a, b, w, v]);
  });

  it('nn linear and attention take the flag/batched forms and keep their values and gradients', () => {
    const x = tf.randomNormal([2, 24, 32], 0, 1, 'float32', 31);
    const w = tf.randomNormal([32, 32], 0, 0.2, 'float32', 32);
    const b = tf.randomNormal([32], 0, 0.2, 'float32', 33);
    const f = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => {
      const h = linear(xx, ww, bb) as tf.Tensor3D;
      return tf.sum(tf.square(attention(h, h, h, { heads: 4 })));
    };
    const run = () => {
      const { value, grads } = tf.valueAndGrads(f)([x, w, b]);
      const out = [value.dataSync()[0], ...grads.map((g) => g.dataSync().slice())];
      tf.dispose([value, ...grads]);
      return out as [number, Float32Array, Float32Array, Float32Array];
    };
    expect(nativeMatMulActive(tf)).toBe(true);
    const native = run();
    unregisterNativeKernels(tf);
    expect(nativeMatMulActive(tf)).toBe(false);
    const plain = run();
    registerNativeKernels(tf);
    expect(Math.abs(native[0] - plain[0]) / Math.abs(plain[0])).toBeLessThan(1e-5);
    for (let i = 1; i < 4; i++) {
      const g = plain[i] as Float32Array;
      const scale = Math.max(...Array.from(g, Math.abs));
      expect(maxAbsDiff(native[i] as Float32Array, g) / scale).toBeLessThan(1e-5);
    }
    tf.dispose([x, w, b]);
  });

  it('fused GELU and LayerNorm match the tfjs-op forms in value and gradient', () => {
    // Wide values so the GELU tails and the sigmoid saturation are covered.
    const x = tf.mul(
      tf.randomNormal([3, 70, 257], 0, 1, 'float32', 71),
      tf.linspace(0.1, 12, 257),
    ) as tf.Tensor;
    const w = tf.randomNormal([3, 70, 257], 0, 1, 'float32', 72);
    const f = (t: tf.Tensor) => tf.sum(tf.mul(tf.add(geluTanh(t), layerNorm(tf.mul(t, 3))), w));
    const run = () => {
      const { value, grad } = tf.valueAndGrad(f)(x);
      const out: [number, Float32Array, Float32Array, Float32Array] = [
        value.dataSync()[0],
        grad.dataSync().slice() as Float32Array,
        tf.tidy(() => geluTanh(x).dataSync().slice() as Float32Array),
        tf.tidy(() => layerNorm(x).dataSync().slice() as Float32Array),
      ];
      tf.dispose([value, grad]);
      return out;
    };
    const { result: native, kernels: kernelsRun } = withKernelLog(run);
    expect([...kernelsRun]).toEqual(
      expect.arrayContaining(['DditGeluTanh', 'DditGeluTanhGrad', 'DditLayerNorm']),
    );
    expect(kernelsRun.has('DditLayerNormGrad')).toBe(true);
    unregisterNativeKernels(tf);
    const plain = run();
    registerNativeKernels(tf);
    expect(Math.abs(native[0] - plain[0]) / Math.abs(plain[0])).toBeLessThan(1e-5);
    for (let i = 1; i < 4; i++) {
      const ref = plain[i] as Float32Array;
      const scale = Math.max(...Array.from(ref, Math.abs));
      expect(maxAbsDiff(native[i] as Float32Array, ref) / scale).toBeLessThan(2e-5);
    }
    tf.dispose([x, w]);
  });

  it('fused linear matches matMul + bias in value and every gradient, at any rank, with and without a bias', () => {
    const w = tf.randomNormal([24, 17], 0, 1, 'float32', 61) as tf.Tensor2D;
    const b = tf.randomNormal([17], 0, 1, 'float32', 62) as tf.Tensor1D;
    for (const shape of [[24], [9, 24], [4, 7, 24], [2, 3, 5, 24]]) {
      for (const withBias of [true, false]) {
        const x = tf.randomNormal(shape, 0, 1, 'float32', 63);
        const r = tf.randomNormal([...shape.slice(0, -1), 17], 0, 1, 'float32', 64);
        const f = (a: tf.Tensor, wt: tf.Tensor, bt?: tf.Tensor) => tf.sum(tf.mul(linear(a, wt, bt), r));
        const reference = (a: tf.Tensor, wt: tf.Tensor, bt?: tf.Tensor) => {
          const y = tf.reshape(tf.matMul(tf.reshape(a, [-1, 24]), wt), [...shape.slice(0, -1), 17]);
          return tf.sum(tf.mul(bt ? tf.add(y, bt) : y, r));
        };
        const grads = (g: typeof f) => {
          const { value, grads: gs } = withBias
            ? tf.valueAndGrads((a: tf.Tensor, wt: tf.Tensor, bt: tf.Tensor) => g(a, wt, bt))([x, w, b])
            : tf.valueAndGrads((a: tf.Tensor, wt: tf.Tensor) => g(a, wt))([x, w]);
          const out = [value.dataSync()[0], ...gs.map((t) => t.dataSync().slice() as Float32Array)];
          tf.dispose([value, ...gs]);
          return out as [number, ...Float32Array[]];
        };
        const before = tf.memory().numTensors;
        const { result: native, kernels: kernelsRun } = withKernelLog(() => grads(f));
        expect(tf.memory().numTensors).toBe(before);
        expect(kernelsRun.has('DditLinear') && kernelsRun.has('DditLinearGrad')).toBe(true);
        const plain = grads(reference);
        expect(Math.abs(native[0] - plain[0]) / Math.max(1, Math.abs(plain[0]))).toBeLessThan(1e-5);
        expect(native.length).toBe(withBias ? 4 : 3);
        for (let i = 1; i < native.length; i++) {
          const ref = plain[i] as Float32Array;
          const scaleRef = Math.max(1e-6, ...Array.from(ref, Math.abs));
          expect(maxAbsDiff(native[i] as Float32Array, ref) / scaleRef).toBeLessThan(1e-5);
        }
        tf.dispose([x, r]);
      }
    }
    tf.dispose([w, b]);
  });

  it('fused adaLN and gated residual match the tfjs-op forms in value and every gradient', () => {
    const x = tf.mul(tf.randomNormal([5, 37, 96], 0, 1, 'float32', 81), 3) as tf.Tensor3D;
    const shift = tf.randomNormal([5, 96], 0, 1, 'float32', 82) as tf.Tensor2D;
    const scale = tf.randomNormal([5, 96], 0, 1, 'float32', 83) as tf.Tensor2D;
    const gate = tf.randomNormal([5, 96], 0, 1, 'float32', 84) as tf.Tensor2D;
    const w = tf.randomNormal([5, 37, 96], 0, 1, 'float32', 85);
    const f = (a: tf.Tensor, sh: tf.Tensor, sc: tf.Tensor, g: tf.Tensor) => {
      const h = adaLayerNorm(a, sh, sc);
      return tf.sum(tf.mul(gatedAdd(a, g, tf.mul(h, h)), w));
    };
    const run = () => {
      const { value, grads } = tf.valueAndGrads(f)([x, shift, scale, gate]);
      const out = [value.dataSync()[0], ...grads.map((g) => g.dataSync().slice() as Float32Array)];
      tf.dispose([value, ...grads]);
      return out as [number, ...Float32Array[]];
    };
    const before = tf.memory().numTensors;
    const { result: native, kernels: kernelsRun } = withKernelLog(run);
    expect(tf.memory().numTensors).toBe(before); // unused gradient outputs are freed too
    for (const k of ['DditAdaLayerNorm', 'DditAdaLayerNormGrad', 'DditGatedAdd', 'DditGatedAddGrad'])
      expect(kernelsRun.has(k)).toBe(true);
    unregisterNativeKernels(tf);
    const plain = run();
    registerNativeKernels(tf);
    expect(Math.abs(native[0] - plain[0]) / Math.abs(plain[0])).toBeLessThan(1e-5);
    for (let i = 1; i < 5; i++) {
      const ref = plain[i] as Float32Array;
      const scaleRef = Math.max(...Array.from(ref, Math.abs));
      expect(maxAbsDiff(native[i] as Float32Array, ref) / scaleRef).toBeLessThan(2e-5);
    }
    tf.dispose([x, shift, scale, gate, w]);
  });

  it('fused attention matches the batched tfjs path in value and every gradient, with and without a bias', () => {
    // Cross-attention shapes (Lq ≠ Lk, value width ≠ key width) so no stride can be confused with another.
    const q = tf.randomNormal([3, 11, 24], 0, 1, 'float32', 91) as tf.Tensor3D;
    const k = tf.randomNormal([3, 13, 24], 0, 1, 'float32', 92) as tf.Tensor3D;
    const v = tf.randomNormal([3, 13, 18], 0, 1, 'float32', 93) as tf.Tensor3D;
    const bias = tf.randomNormal([3, 11, 13], 0, 2, 'float32', 94) as tf.Tensor3D;
    const w = tf.randomNormal([3, 11, 18], 0, 1, 'float32', 95);
    const run = (mode: 'fused' | 'batched', withBias: boolean) => {
      const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d?: tf.Tensor) =>
        tf.sum(
          tf.mul(
            attention(a as tf.Tensor3D, b as tf.Tensor3D, c as tf.Tensor3D, {
              heads: 3,
              mode,
              ...(d ? { bias: d as tf.Tensor3D, scale: 1 } : {}),
            }),
            w,
          ),
        );
      const { value, grads } = tf.valueAndGrads(f)(withBias ? [q, k, v, bias] : [q, k, v]);
      const out = [value.dataSync()[0], ...grads.map((g) => g.dataSync().slice())];
      tf.dispose([value, ...grads]);
      return out as [number, ...Float32Array[]];
    };
    const kernelsRun = new Set<string>();
    for (const withBias of [false, true]) {
      const before = tf.memory().numTensors;
      const { result: fused, kernels } = withKernelLog(() => run('fused', withBias));
      for (const k of kernels) kernelsRun.add(k);
      expect(tf.memory().numTensors).toBe(before); // the saved probabilities are freed with the tape
      const plain = run('batched', withBias);
      expect(Math.abs(fused[0] - plain[0]) / Math.abs(plain[0])).toBeLessThan(1e-5);
      expect(fused.length).toBe(withBias ? 5 : 4);
      for (let i = 1; i < fused.length; i++) {
        const ref = plain[i] as Float32Array;
        const scaleRef = Math.max(...Array.from(ref, Math.abs));
        expect(maxAbsDiff(fused[i] as Float32Array, ref) / scaleRef).toBeLessThan(2e-5);
      }
    }
    expect(kernelsRun.has('DditAttention')).toBe(true);
    expect(kernelsRun.has('DditAttentionGrad')).toBe(true);
    expect(kernelsRun.has('Transpose')).toBe(false);
    // Inference (no tape) keeps nothing either.
    const before = tf.memory().numTensors;
    tf.dispose(attention(q, k, v, { heads: 3, mode: 'fused' }));
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([q, k, v, bias, w]);
  });

  it('fused joint attention matches split, concatenated attention in both outputs and both gradients', () => {
    // 7 image and 5 text tokens, width 24 in 3 heads: each stream's fused projection is [B, T, 72].
    const x = tf.randomNormal([2, 7, 72], 0, 1, 'float32', 101) as tf.Tensor3D;
    const c = tf.randomNormal([2, 5, 72], 0, 1, 'float32', 102) as tf.Tensor3D;
    const wx = tf.randomNormal([2, 7, 24], 0, 1, 'float32', 103);
    const wc = tf.randomNormal([2, 5, 24], 0, 1, 'float32', 104);
    const run = (mode: 'fused' | 'batched') => {
      const f = (a: tf.Tensor, b: tf.Tensor) => {
        const [ox, oc] = jointAttention(a as tf.Tensor3D, b as tf.Tensor3D, { heads: 3, mode });
        return tf.add(tf.sum(tf.mul(ox, wx)), tf.sum(tf.mul(tf.square(oc), wc)));
      };
      const { value, grads } = tf.valueAndGrads(f)([x, c]);
      const outs = tf.tidy(() => jointAttention(x, c, { heads: 3, mode }).map((t) => t.dataSync().slice()));
      const out = [value.dataSync()[0], ...grads.map((g) => g.dataSync().slice()), ...outs];
      tf.dispose([value, ...grads]);
      return out as [number, ...Float32Array[]];
    };
    const before = tf.memory().numTensors;
    const { result: fused, kernels: kernelsRun } = withKernelLog(() => run('fused'));
    expect(tf.memory().numTensors).toBe(before);
    expect(kernelsRun.has('DditJointAttention')).toBe(true);
    expect(kernelsRun.has('DditJointAttentionGrad')).toBe(true);
    for (const k of ['Concat', 'Slice', 'Transpose', 'PadV2']) expect(kernelsRun.has(k)).toBe(false);
    const plain = run('batched');
    expect(Math.abs(fused[0] - plain[0]) / Math.abs(plain[0])).toBeLessThan(1e-5);
    for (let i = 1; i < 5; i++) {
      const ref = plain[i] as Float32Array;
      const scaleRef = Math.max(...Array.from(ref, Math.abs));
      expect(maxAbsDiff(fused[i] as Float32Array, ref) / scaleRef).toBeLessThan(2e-5);
    }
    expect(() => jointAttention(x, tf.zeros([2, 5, 71]) as tf.Tensor3D, { heads: 3 })).toThrow(
      /incompatible projections/,
    );
    tf.dispose([x, c, wx, wc]);
  });

  it('runs fused matmul with bias and activation', () => {
    const a = tf.randomNormal([2, 7, 10], 0, 1, 'float32', 6);
    const b = tf.randomNormal([2, 10, 5], 0, 1, 'float32', 7);
    const bias = tf.randomNormal([5], 0, 1, 'float32', 8);
    for (const activation of ['linear', 'relu', 'sigmoid'] as const) {
      const got = tf.fused.matMul({ a, b, bias, activation });
      const mm = referenceMatMul(
        a.dataSync() as Float32Array,
        a.shape,
        b.dataSync() as Float32Array,
        b.shape,
        false,
        false,
      );
      const bv = bias.dataSync();
      const want = mm.map((v, i) => {
        const x = v + bv[i % 5];
        return activation === 'relu' ? Math.max(0, x) : activation === 'sigmoid' ? 1 / (1 + Math.exp(-x)) : x;
      });
      expect(maxAbsDiff(got.dataSync(), want)).toBeLessThan(1e-4);
      got.dispose();
    }
    tf.dispose([a, b, bias]);
  });

  it('broadcasts general batch shapes (which the plain wasm kernel gets wrong)', () => {
    const a = tf.randomNormal([2, 1, 4, 5], 0, 1, 'float32', 9);
    const b = tf.randomNormal([1, 3, 5, 6], 0, 1, 'float32', 10);
    const c = tf.matMul(a, b);
    expect(c.shape).toEqual([2, 3, 4, 6]);
    const av = a.dataSync();
    const bv = b.dataSync();
    const cv = c.dataSync();
    // Spot-check entry [1,2,3,4].
    let s = 0;
    for (let q = 0; q < 5; q++) s += av[20 + 3 * 5 + q] * bv[2 * 30 + q * 6 + 4];
    expect(Math.abs(cv[((1 * 3 + 2) * 4 + 3) * 6 + 4] - s)).toBeLessThan(1e-4);
    tf.dispose([a, b, c]);
  });

  it('sums over any contiguous block of axes like the stock kernel', () => {
    const x = tf.randomNormal([6, 50, 7, 40], 0, 1, 'float32', 61);
    const big = tf.randomNormal([1536, 256], 0, 1, 'float32', 62);
    const cases: Array<[tf.Tensor, number | number[] | undefined, boolean]> = [
      [big, 0, false], // bias gradient: parallel column sums
      [big, 1, false],
      [x, [1, 2], false],
      [x, [0, 1], true],
      [x, [2, 3], false],
      [x, -1, true],
      [x, undefined, false],
      [x, [0, 2], false], // not contiguous: the stock kernel
    ];
    const results = () => cases.map(([t, axis, keep]) => tf.tidy(() => tf.sum(t, axis, keep).arraySync()));
    const native = results();
    unregisterNativeKernels(tf);
    const plain = results();
    registerNativeKernels(tf);
    cases.forEach(([t], i) => {
      const a = [native[i]].flat(4) as number[];
      const b = [plain[i]].flat(4) as number[];
      expect(tf.tensor(native[i] as number).shape).toEqual(tf.tensor(plain[i] as number).shape);
      // float32 sums in different orders: allow rounding that grows with the terms per output
      const terms = t.size / b.length;
      expect(maxAbsDiff(a, b)).toBeLessThan(1e-4 + 1e-6 * terms);
    });
    tf.dispose([x, big]);
  });

  it('gathers rows like the stock kernel, and names an id outside the table', () => {
    const table = tf.randomNormal([62, 128], 0, 1, 'float32', 71);
    const cube = tf.randomNormal([5, 3, 4], 0, 1, 'float32', 72);
    const ids = tf.tensor2d(
      Array.from({ length: 32 * 32 }, (_, i) => (i * 37) % 62),
      [32, 32],
      'int32',
    );
    const cases: Array<() => tf.Tensor> = [
      () => tf.gather(table, ids), // an embedding lookup: [32, 32, 128]
      () => tf.gather(cube, tf.tensor1d([4, 0, 4, 2], 'int32')), // rank 3, repeated ids
      () => tf.gather(cube, tf.tensor1d([2, 0], 'int32'), 1), // another axis: the stock kernel
      () => tf.gather(cube, tf.scalar(3, 'int32')), // a scalar id drops the axis
    ];
    const results = () =>
      cases.map((f) =>
        tf.tidy(() => {
          const t = f();
          return { shape: t.shape, values: Array.from(t.dataSync()) };
        }),
      );
    const native = results();
    unregisterNativeKernels(tf);
    const plain = results();
    registerNativeKernels(tf);
    expect(nativeKernelsStatus().kernels).toContain('GatherV2');
    native.forEach((r, i) => {
      expect(r.shape).toEqual(plain[i].shape);
      expect(r.values).toEqual(plain[i].values); // copies: bit for bit
    });
    // gradients still flow to the table (UnsortedSegmentSum of the upstream rows)
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.gather(t, tf.tensor1d([1, 1, 3], 'int32'))))(table);
    const gv = g.arraySync() as number[][];
    expect(gv[1].every((v) => v === 2)).toBe(true);
    expect(gv[3].every((v) => v === 1)).toBe(true);
    expect(gv[0].every((v) => v === 0)).toBe(true);
    expect(() => tf.gather(table, tf.tensor1d([3, 62], 'int32'))).toThrow(
      'GatherV2: index 62 is outside 0..61 (the gathered axis has 62 entries)',
    );
    tf.dispose([table, cube, ids, g]);
  });

  it('takes an AdamW step with the PyTorch rule, moments in place, never writing through shared storage', () => {
    const n = 70000; // several parallel chunks
    // Variables own their storage alone once the initial tensors are gone.
    const variable = (t: tf.Tensor) => {
      const out = tf.variable(t);
      t.dispose();
      return out;
    };
    const w = variable(tf.randomNormal([n], 0, 1, 'float32', 51));
    const m = variable(tf.randomNormal([n], 0, 0.1, 'float32', 52));
    const v = variable(tf.tidy(() => tf.abs(tf.randomNormal([n], 0, 0.1, 'float32', 53))));
    const g = tf.randomNormal([n], 0, 1, 'float32', 54);
    const [w0, m0, v0, g0] = [w, m, v, g].map((t) => t.dataSync().slice());
    const hp = {
      lr: 0.01,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      weightDecay: 0.1,
      bc1: 0.19,
      bc2: 0.002,
      gradScale: 0.5,
    };
    const [mId, vId] = [m.dataId, v.dataId];
    expect(nativeAdamW(tf, w, g, m, v, hp)).toBe(true);
    expect([m.dataId, v.dataId]).toEqual([mId, vId]); // moments in place
    const [w1, m1, v1] = [w, m, v].map((t) => t.dataSync());
    let err = 0;
    for (let i = 0; i < n; i++) {
      const gi = g0[i] * hp.gradScale;
      const mi = hp.beta1 * m0[i] + (1 - hp.beta1) * gi;
      const vi = hp.beta2 * v0[i] + (1 - hp.beta2) * gi * gi;
      const wi =
        w0[i] * (1 - hp.lr * hp.weightDecay) -
        ((hp.lr / hp.bc1) * mi) / (Math.sqrt(vi) / Math.sqrt(hp.bc2) + hp.eps);
      err = Math.max(err, Math.abs(m1[i] - mi), Math.abs(v1[i] - vi), Math.abs(w1[i] - wi));
    }
    expect(err).toBeLessThan(1e-5);
    let sq = 0;
    for (let i = 0; i < n; i++) sq += g0[i] * g0[i];
    expect(Math.abs(nativeSumSquares(tf, g)! - sq) / sq).toBeLessThan(1e-6);
    // A live reshape shares m's storage: the step moves m to storage of its own and the reshape keeps the
    // values it had (as with assign()).
    const view = tf.reshape(m, [n, 1]);
    const seen = view.dataSync().slice(0, 4);
    expect(nativeAdamW(tf, w, g, m, v, hp)).toBe(true);
    expect(m.dataId).not.toBe(mId);
    expect(Array.from(view.dataSync().slice(0, 4))).toEqual(Array.from(seen));
    expect(Array.from(m.dataSync().slice(0, 4))).not.toEqual(Array.from(seen));
    tf.dispose([view, w, m, v, g]);
  });

  it('updates an EMA shadow in place in one pass, never writing through shared storage', () => {
    const n = 70000;
    const init = tf.randomNormal([n], 0, 1, 'float32', 81);
    const shadow = tf.variable(init);
    init.dispose(); // the variable owns its storage alone, as Ema's shadows do
    const w = tf.randomNormal([n], 0, 1, 'float32', 82);
    const [s0, w0] = [shadow, w].map((t) => t.dataSync().slice());
    const id = shadow.dataId;
    expect(nativeEmaUpdate(tf, shadow, w, 0.998)).toBe(true);
    expect(shadow.dataId).toBe(id);
    const s1 = shadow.dataSync();
    let err = 0;
    for (let i = 0; i < n; i++) err = Math.max(err, Math.abs(s1[i] - (0.998 * s0[i] + 0.002 * w0[i])));
    expect(err).toBeLessThan(1e-6);
    // the Ema class takes this path and gives what the tensor-op form gives
    const ema = new Ema({ decay: 0.9, startStep: 0 });
    const weights = new Map([['w', w]]);
    ema.update(weights, 1);
    const before = ema.shadow.get('w')!.dataSync().slice();
    const shared = tf.reshape(ema.shadow.get('w')!, [n, 1]); // a live view: must keep its values
    const w2 = tf.randomNormal([n], 0, 1, 'float32', 83);
    ema.update(new Map([['w', w2]]), 2);
    const want = tf.tidy(() => tf.add(tf.mul(tf.tensor(before), 0.9), tf.mul(w2, 0.1)).dataSync());
    expect(maxAbsDiff(ema.shadow.get('w')!.dataSync(), want)).toBeLessThan(1e-6);
    expect(Array.from(shared.dataSync().slice(0, 3))).toEqual(Array.from(before.slice(0, 3)));
    expect(nativeEmaUpdate(tf, shadow, tf.zeros([3]), 0.5)).toBe(false); // sizes differ: the caller's path
    tf.dispose([shadow, w, w2, shared]);
    ema.dispose();
  });

  it('rejects operands that reach past their array', () => {
    const addon = nativeAddon()!;
    const x = new Float32Array(6);
    expect(() =>
      addon.gemmBatched(false, false, 2, 2, 3, 1, 1, 0, x, 0, 3, 0, x, 0, 2, 0, x, 4, 2, 0),
    ).toThrow(/past the end/);
    expect(() =>
      addon.gemmBatched(false, false, 2, 2, 3, 1, 1, 0, x, 0, 2, 0, x, 0, 2, 0, x, 0, 2, 0),
    ).toThrow(/leading dimension/);
    // attention(B, H, Lq, Lk, dh, dv, scale, q, k, v, bias, out, p): q needs 2·3·4 elements, not 6.
    expect(() => addon.attention(1, 2, 3, 3, 2, 2, 1, x, 0, x, 0, x, 0, null, 0, x, 0, x, 0)).toThrow(
      /past the end/,
    );
    // jointAttention(B, H, N, M, dh, scale, x, c, ox, oc): x needs 1·2·3·(3·2) elements.
    expect(() => addon.jointAttention(1, 1, 2, 1, 2, 1, x, 0, x, 0, x, 0, x, 0)).toThrow(/past the end/);
  });

  it('works on arrays over a SharedArrayBuffer (the threaded wasm heap)', () => {
    const addon = nativeAddon()!;
    const heap = new Float32Array(new SharedArrayBuffer(4 * 20), 4, 16);
    heap.set([1, 2, 3, 4, 5, 6, 1, 0, 0, 1, 1, 1]);
    addon.gemmBatched(false, false, 2, 2, 3, 1, 1, 0, heap, 0, 3, 0, heap, 6, 2, 0, heap, 12, 2, 0);
    expect(Array.from(heap.subarray(12))).toEqual([4, 5, 10, 11]);
  });
});

describe('fallback when the native kernels are unavailable', () => {
  const a = () => tf.randomNormal([3, 20, 30], 0, 1, 'float32', 11);
  const b = () => tf.randomNormal([3, 25, 30], 0, 1, 'float32', 12);

  it('DDIT_NATIVE=0 keeps the original wasm kernels and gives the same numbers', () => {
    unregisterNativeKernels(tf);
    const original = tf.getKernel('BatchMatMul', 'wasm');
    registerNativeKernels(tf);
    expect(tf.getKernel('BatchMatMul', 'wasm').kernelFunc).not.toBe(original.kernelFunc);
    const x = a();
    const y = b();
    const native = tf.matMul(x, y, false, true);
    const prev = process.env.DDIT_NATIVE;
    process.env.DDIT_NATIVE = '0';
    try {
      const status = registerNativeKernels(tf);
      expect(status.loaded).toBe(false);
      expect(status.reason).toMatch(/DDIT_NATIVE=0/);
      expect(status.kernels).toEqual([]);
      expect(tf.getKernel('BatchMatMul', 'wasm').kernelFunc).toBe(original.kernelFunc);
      const plain = tf.matMul(x, y, false, true);
      expect(maxAbsDiff(native.dataSync(), plain.dataSync())).toBeLessThan(1e-4);
      const want = referenceMatMul(
        x.dataSync() as Float32Array,
        x.shape,
        y.dataSync() as Float32Array,
        y.shape,
        false,
        true,
      );
      expect(maxAbsDiff(plain.dataSync(), want)).toBeLessThan(1e-4);
      tf.dispose([plain]);
    } finally {
      if (prev === undefined) delete process.env.DDIT_NATIVE;
      else process.env.DDIT_NATIVE = prev;
    }
    tf.dispose([x, y, native]);
  });

  it('an addon built from older sources is not used', () => {
    const stale = path.join(os.tmpdir(), `ddit-stale-addon-${process.pid}.js`);
    fs.writeFileSync(stale, 'exports.gemmBatched = () => {}; exports.library = () => "old";\n');
    try {
      const status = loadNativeKernels({ addonPath: stale });
      expect(status.loaded).toBe(false);
      expect(status.reason).toMatch(/out of date.*reduceSum/);
    } finally {
      fs.unlinkSync(stale);
    }
    expect(loadNativeKernels({ addonPath: DEFAULT_ADDON_PATH }).loaded).toBe(true);
  });

  it('a missing addon reports why and registers nothing', () => {
    unregisterNativeKernels(tf);
    const status = registerNativeKernels(tf, {
      addonPath: path.join(root, 'native/build/Release/missing.node'),
    });
    expect(status.loaded).toBe(false);
    expect(status.reason).toMatch(/not built/);
    expect(status.kernels).toEqual([]);
    const x = a();
    const y = b();
    const c = tf.matMul(x, y, false, true);
    const want = referenceMatMul(
      x.dataSync() as Float32Array,
      x.shape,
      y.dataSync() as Float32Array,
      y.shape,
      false,
      true,
    );
    expect(maxAbsDiff(c.dataSync(), want)).toBeLessThan(1e-4);
    tf.dispose([x, y, c]);
    // Loading the real addon again restores the native path.
    expect(loadNativeKernels({ addonPath: DEFAULT_ADDON_PATH }).loaded).toBe(true);
  });
});
