import { initRuntime, withBackend } from '../../../server/runtime/backend';
import { tf } from '../../../server/runtime/tf';
import { setIm2colBlock, SUPPLIED_WASM_KERNELS } from '../../../server/runtime/wasm-kernels';

beforeAll(async () => {
  await initRuntime({ backend: 'wasm', threads: 2 });
});

afterEach(() => setIm2colBlock(1 << 24));

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];

/** Runs `fn` on wasm and on cpu with the same inputs, returning both results as plain arrays. */
async function onBoth(fn: () => tf.Tensor | tf.Tensor[]): Promise<[number[][], number[][]]> {
  const run = () =>
    tf.tidy(() => {
      const r = fn();
      return (Array.isArray(r) ? r : [r]).map((t) => Array.from(t.dataSync()));
    });
  const wasm = run();
  const cpu = await withBackend('cpu', run);
  return [wasm, cpu];
}

function expectClose(a: number[], b: number[], tol: number): void {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  expect(worst).toBeLessThan(tol);
}

/** Live buffers of the wasm backend: a kernel that forgets to free a scratch buffer shows up here. */
function wasmBuffers(): number {
  return tf.engine().findBackend('wasm')!.numDataIds();
}

/** Runs `fn` on wasm twice (the first run moves inputs back from cpu) and checks the second frees everything. */
function expectNoScratchLeak(fn: () => unknown): void {
  tf.tidy(() => void fn());
  const before = wasmBuffers();
  tf.tidy(() => void fn());
  expect(wasmBuffers()).toBe(before);
}

it('supplies the kernels the stock wasm backend lacks', () => {
  for (const k of SUPPLIED_WASM_KERNELS) expect(tf.getKernel(k, 'wasm')).toBeDefined();
  expect(tf.getBackend()).toBe('wasm');
});

describe('Conv2DBackpropFilter', () => {
  const cases: [string, number[], number[], [number, number] | number, Pad][] = [
    ['3x3 stride 1 same', [2, 7, 7, 3], [3, 3, 3, 4], 1, 'same'],
    ['3x3 stride 2 same', [2, 9, 8, 3], [3, 3, 3, 5], 2, 'same'],
    ['3x3 stride 2 valid', [1, 9, 9, 2], [3, 3, 2, 3], 2, 'valid'],
    [
      '2x3 strides [2,1] explicit pad',
      [2, 6, 5, 3],
      [2, 3, 3, 2],
      [2, 1],
      [
        [0, 0],
        [1, 2],
        [2, 1],
        [0, 0],
      ],
    ],
    ['1x1', [3, 4, 4, 6], [1, 1, 6, 4], 1, 'valid'],
    ['patchify 2x2 stride 2', [2, 8, 8, 4], [2, 2, 4, 8], 2, 'valid'],
    ['filter larger than stride, odd sizes', [1, 5, 7, 1], [4, 4, 1, 2], 3, 'same'],
  ];

  it.each(cases)('%s: matches the cpu backend', async (_name, xShape, fShape, strides, pad) => {
    const x = tf.randomNormal(xShape, 0, 1, 'float32', 1);
    const f = tf.randomNormal(fShape, 0, 1, 'float32', 2);
    const probe = tf.tidy(() => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, strides, pad));
    const r = tf.randomNormal(probe.shape, 0, 1, 'float32', 3);
    const grad = () =>
      tf.grad((ff: tf.Tensor) =>
        tf
          .conv2d(x as tf.Tensor4D, ff as tf.Tensor4D, strides, pad)
          .mul(r)
          .sum(),
      )(f);
    expectNoScratchLeak(grad);
    const [w, c] = await onBoth(grad);
    expectClose(w[0], c[0], 1e-4);
    tf.dispose([x, f, probe, r]);
  });

  it('gives the same result when im2col is cut into blocks', async () => {
    const x = tf.randomNormal([3, 6, 6, 4], 0, 1, 'float32', 4);
    const f = tf.randomNormal([3, 3, 4, 5], 0, 1, 'float32', 5);
    const grad = () =>
      tf.grad((ff: tf.Tensor) =>
        tf
          .conv2d(x as tf.Tensor4D, ff as tf.Tensor4D, 1, 'same')
          .square()
          .sum(),
      )(f);
    const whole = tf.tidy(() => Array.from(grad().dataSync()));
    setIm2colBlock(36 * 7); // 7 output pixels per block: blocks straddle images and rows
    expectNoScratchLeak(grad);
    const cut = tf.tidy(() => Array.from(grad().dataSync()));
    expectClose(cut, whole, 1e-4);
    tf.dispose([x, f]);
  });

  it('passes a finite-difference gradient check', () => {
    const x = tf.randomNormal([1, 5, 5, 2], 0, 1, 'float32', 6);
    const r = tf.randomNormal([1, 3, 3, 3], 0, 1, 'float32', 7);
    const f0 = tf.randomNormal([3, 3, 2, 3], 0, 1, 'float32', 8);
    // f is linear in the filter, so central differences are exact up to float32 rounding
    const loss = (ff: tf.Tensor) =>
      tf
        .conv2d(x as tf.Tensor4D, ff as tf.Tensor4D, 2, 'same')
        .mul(r)
        .sum();
    const g = tf.tidy(() => tf.grad(loss)(f0).dataSync());
    const base = f0.dataSync();
    const eps = 0.05;
    for (const i of [0, 7, 20, 33, 53]) {
      const at = (d: number) =>
        tf.tidy(() => {
          const v = Float32Array.from(base);
          v[i] += d;
          return loss(tf.tensor4d(v, f0.shape as [number, number, number, number])).dataSync()[0];
        });
      const numeric = (at(eps) - at(-eps)) / (2 * eps);
      expect(Math.abs(numeric - g[i])).toBeLessThan(2e-3 * (1 + Math.abs(g[i])));
    }
    tf.dispose([x, r, f0]);
  });

  it('gives conv2dTranspose its filter gradient', async () => {
    const x = tf.randomNormal([2, 4, 4, 3], 0, 1, 'float32', 9);
    const f = tf.randomNormal([3, 3, 5, 3], 0, 1, 'float32', 10); // [h, w, outChannels, inChannels]
    const r = tf.randomNormal([2, 8, 8, 5], 0, 1, 'float32', 11);
    const [w, c] = await onBoth(() =>
      tf.grad((ff: tf.Tensor) =>
        tf
          .conv2dTranspose(x as tf.Tensor4D, ff as tf.Tensor4D, [2, 8, 8, 5], 2, 'same')
          .mul(r)
          .sum(),
      )(f),
    );
    expectClose(w[0], c[0], 1e-4);
    tf.dispose([x, f, r]);
  });
});

describe('UnsortedSegmentSum (gather gradient)', () => {
  it('trains an embedding table: gradients match cpu, repeated ids accumulate', async () => {
    const table = tf.randomNormal([10, 4], 0, 1, 'float32', 12);
    const ids = tf.tensor2d(
      [
        [1, 3, 3],
        [0, 9, 1],
      ],
      undefined,
      'int32',
    );
    const r = tf.randomNormal([2, 3, 4], 0, 1, 'float32', 13);
    const grad = () => tf.grad((t: tf.Tensor) => tf.gather(t, ids).mul(r).sum())(table);
    expectNoScratchLeak(grad);
    const [w, c] = await onBoth(grad);
    expectClose(w[0], c[0], 1e-5);
    // rows never gathered get zero gradient; row 3 (gathered twice) gets both contributions
    const rv = r.dataSync();
    for (let j = 0; j < 4; j++) {
      expect(w[0][2 * 4 + j]).toBe(0);
      expect(w[0][3 * 4 + j]).toBeCloseTo(rv[4 + j] + rv[8 + j], 5);
    }
    tf.dispose([table, ids, r]);
  });

  it('handles gather along axis 1 and a finite-difference check', async () => {
    const p = tf.randomNormal([3, 6, 2], 0, 1, 'float32', 14);
    const ids = tf.tensor1d([5, 0, 5, 2], 'int32');
    const r = tf.randomNormal([3, 4, 2], 0, 1, 'float32', 15);
    const loss = (t: tf.Tensor) => tf.gather(t, ids, 1).mul(r).sum();
    const [w, c] = await onBoth(() => tf.grad(loss)(p));
    expectClose(w[0], c[0], 1e-5);
    const base = p.dataSync();
    for (const i of [0, 11, 21, 35]) {
      const at = (d: number) =>
        tf.tidy(() => {
          const v = Float32Array.from(base);
          v[i] += d;
          return loss(tf.tensor3d(v, [3, 6, 2])).dataSync()[0];
        });
      expect(Math.abs((at(0.05) - at(-0.05)) / 0.1 - w[0][i])).toBeLessThan(2e-3);
    }
    tf.dispose([p, ids, r]);
  });

  it('drops negative ids as TensorFlow does, sums int32, and rejects ids beyond numSegments', async () => {
    const x = tf.tensor2d([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    const [w] = await onBoth(() => tf.unsortedSegmentSum(x, tf.tensor1d([2, -1, 2], 'int32'), 3));
    expect(w[0]).toEqual([0, 0, 0, 0, 6, 8]);
    const xi = tf.tensor1d([1, 2, 3], 'int32');
    const s = tf.unsortedSegmentSum(xi, tf.tensor1d([1, 1, 0], 'int32'), 2);
    expect(s.dtype).toBe('int32');
    expect(Array.from(s.dataSync())).toEqual([3, 3]);
    const bad = tf.tensor1d([0, 3, 1], 'int32');
    expect(() => tf.unsortedSegmentSum(x, bad, 3)).toThrow(); // moves x back from cpu first
    const buffers = wasmBuffers();
    expect(() => tf.unsortedSegmentSum(x, bad, 3)).toThrow(/segment id 3 is not below numSegments=3/);
    expect(wasmBuffers()).toBe(buffers);
    bad.dispose();
    tf.dispose([x, xi, s]);
  });
});

describe('Slice / SplitV / Unpack', () => {
  /** Deterministic pseudo-random integers. */
  function rng(seed: number): (n: number) => number {
    let s = seed;
    return (n) => {
      s = (s * 1103515245 + 12345) % 2147483648;
      return s % n;
    };
  }

  it('matches cpu on random slices of every rank and dtype (contiguous or not)', async () => {
    const rand = rng(42);
    for (let trial = 0; trial < 60; trial++) {
      const rank = 1 + (trial % 5);
      const shape = Array.from({ length: rank }, () => 1 + rand(5));
      const begin = shape.map((d) => rand(d));
      const size = shape.map((d, i) => (rand(4) === 0 ? -1 : 1 + rand(d - begin[i])));
      const dtype = (['float32', 'int32', 'bool'] as const)[trial % 3];
      const n = shape.reduce((a, b) => a * b, 1);
      const x = tf.tensor(
        Array.from({ length: n }, (_, i) => (dtype === 'bool' ? Number(i % 3 === 0) : i)),
        shape,
        dtype,
      );
      const [w, c] = await onBoth(() => tf.slice(x, begin, size));
      expect({ shape, begin, size, values: w[0] }).toEqual({ shape, begin, size, values: c[0] });
      x.dispose();
    }
  });

  it('splits and unstacks along every axis like cpu', async () => {
    const x = tf.randomNormal([3, 4, 6], 0, 1, 'float32', 16);
    for (let axis = 0; axis < 3; axis++) {
      const [w, c] = await onBoth(() => [
        ...tf.unstack(x, axis),
        ...tf.split(x, [1, x.shape[axis] - 1], axis),
      ]);
      expect(w).toEqual(c);
    }
    const [w, c] = await onBoth(() => tf.split(x, 3, 2));
    expect(w).toEqual(c);
    const shapes = tf.tidy(() => tf.unstack(x, 1).map((t) => t.shape));
    expect(shapes).toEqual([
      [3, 6],
      [3, 6],
      [3, 6],
      [3, 6],
    ]);
    x.dispose();
  });

  it('has working gradients through slices (attention heads)', async () => {
    const x = tf.randomNormal([2, 5, 8], 0, 1, 'float32', 17);
    const r = tf.randomNormal([2, 5, 4], 0, 1, 'float32', 18);
    const [w, c] = await onBoth(() =>
      tf.grad((t: tf.Tensor) => {
        const [a, b] = tf.split(t, 2, 2);
        return tf.add(a.mul(r), tf.slice(t, [0, 0, 4], [2, 5, 4]).mul(b)).sum();
      })(x),
    );
    expectClose(w[0], c[0], 1e-5);
    tf.dispose([x, r]);
  });
});

describe('Identity and same-dtype Cast', () => {
  it('share storage instead of copying, and outlive the original', () => {
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const before = wasmBuffers();
    const c = tf.clone(x);
    const f = tf.cast(x, 'float32');
    expect(wasmBuffers()).toBe(before); // no new heap buffers
    x.dispose();
    expect(Array.from(c.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(f.shape).toEqual([2, 3]);
    c.dispose();
    expect(Array.from(f.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    f.dispose();
    expect(wasmBuffers()).toBe(before - 1); // freed with the last user
  });

  it('still converts between dtypes', () => {
    const x = tf.tensor1d([1.7, -2.2, 0], 'float32');
    const i = tf.cast(x, 'int32');
    expect(i.dtype).toBe('int32');
    expect(Array.from(i.dataSync())).toEqual([1, -2, 0]);
    tf.dispose([x, i]);
  });

  it('keep gradients through saved (cloned) tensors', () => {
    const x = tf.tensor1d([0.5, -1, 2]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.square(t), tf.sigmoid(t))))(x);
    const xs = [0.5, -1, 2];
    const want = xs.map((v) => {
      const s = 1 / (1 + Math.exp(-v));
      return 2 * v * s + v * v * s * (1 - s);
    });
    expectClose(Array.from(g.dataSync()), want, 1e-5);
    tf.dispose([x, g]);
  });
});

describe('PadV2', () => {
  const cases: Array<[string, number[], Array<[number, number]>, number]> = [
    [
      'middle axis (slice gradient)',
      [3, 5, 4],
      [
        [0, 0],
        [2, 3],
        [0, 0],
      ],
      0,
    ],
    [
      'every axis, constant value',
      [2, 3, 4],
      [
        [1, 0],
        [0, 2],
        [3, 1],
      ],
      1.5,
    ],
    [
      'last axis only',
      [4, 6],
      [
        [0, 0],
        [1, 2],
      ],
      -2,
    ],
    [
      'no padding',
      [2, 3],
      [
        [0, 0],
        [0, 0],
      ],
      0,
    ],
    ['rank 1', [5], [[2, 1]], 7],
  ];
  for (const [name, shape, paddings, value] of cases) {
    it(`matches the cpu backend: ${name}`, async () => {
      const size = shape.reduce((a, b) => a * b, 1);
      const data = Array.from({ length: size }, (_, i) => i * 0.5 - 3);
      const [wasm, cpu] = await onBoth(() => tf.pad(tf.tensor(data, shape), paddings, value));
      expect(wasm[0]).toEqual(cpu[0]);
    });
  }

  it('pads int32 and keeps gradients of slices right', async () => {
    const [wasm, cpu] = await onBoth(() => [
      tf.pad(
        tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32'),
        [
          [1, 1],
          [0, 1],
        ],
        9,
      ),
      tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.slice(t, [0, 1, 0], [2, 2, 3]), 2)))(tf.ones([2, 4, 3])),
    ]);
    expect(wasm).toEqual(cpu);
    expectNoScratchLeak(() =>
      tf.pad(tf.ones([3, 4]), [
        [1, 1],
        [2, 0],
      ]),
    );
  });
});
