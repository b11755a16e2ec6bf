import { initRuntime, tf } from '../../../server/runtime';
import { loadNativeKernels, nativeKernelsStatus } from '../../../server/runtime/native-kernels';
import { AdamW, ADAMW_DEFAULTS, type TrainParam } from '../../../nodes/training/adamw';
import { ensureNativeAddon } from '../../helpers/native-addon';

// The fused native AdamW step must give the tensor-op update's numbers.
function train(native: boolean): Float32Array[] {
  expect(loadNativeKernels(native ? {} : { disabled: true }).loaded).toBe(native);
  const shapes = [[3], [64, 48], [300, 400]]; // the last one spans several parallel chunks
  const params: TrainParam[] = shapes.map((shape, i) => {
    const init = tf.randomNormal(shape, 0, 1, 'float32', 40 + i);
    const variable = tf.variable(init);
    init.dispose(); // the variable now owns its storage alone, as model parameters do
    return { name: `p${i}`, variable };
  });
  let moments: object[] = [];
  const opt = new AdamW({ ...ADAMW_DEFAULTS, lr: 1e-2, warmupSteps: 2, weightDecay: 0.1, clipNorm: 50 });
  for (let step = 0; step < 4; step++) {
    const grads = new Map(
      params.map((p, i) => [p.name, tf.randomNormal(p.variable.shape, 0, 1, 'float32', 100 * step + i + 1)]),
    );
    const report = opt.step(params, grads);
    expect(report.clipped).toBe(true); // so the gradient scale path runs too
    // The native step updates the moments in place; the tensor-op step assigns new storage.
    const now = params.map((p) => opt.m.get(p.name)!.dataId);
    if (step > 0) now.forEach((id, i) => expect(id === moments[i]).toBe(native));
    moments = now;
  }
  const out = params.map((p) => p.variable.dataSync().slice() as Float32Array);
  opt.dispose();
  for (const p of params) p.variable.dispose();
  return out;
}

beforeAll(async () => {
  ensureNativeAddon();
  await initRuntime({ backend: 'wasm' });
});

afterAll(() => {
  loadNativeKernels();
});

it('AdamW takes the native step on wasm and matches the tensor-op update', () => {
  if (!loadNativeKernels().loaded)
    throw new Error(`native kernels unavailable: ${nativeKernelsStatus().reason}`);
  const before = tf.memory().numTensors;
  const fused = train(true);
  expect(tf.memory().numTensors).toBe(before);
  const plain = train(false);
  expect(fused.length).toBe(plain.length);
  fused.forEach((f, i) => {
    let d = 0;
    for (let j = 0; j < f.length; j++) d = Math.max(d, Math.abs(f[j] - plain[i][j]));
    expect(d).toBeLessThan(1e-5);
  });
});

it('a trained conv filter is seen by the next conv2d (no stale packed weights under the same id)', () => {
  expect(loadNativeKernels().loaded).toBe(true);
  const init = tf.randomNormal([3, 3, 4, 8], 0, 1, 'float32', 90) as tf.Tensor4D;
  const filter = tf.variable(init);
  init.dispose();
  const x = tf.randomNormal([2, 9, 9, 4], 0, 1, 'float32', 91) as tf.Tensor4D;
  const conv = () =>
    tf.tidy(() =>
      tf
        .conv2d(x, filter as tf.Variable<tf.Rank.R4>, 1, 'same')
        .dataSync()
        .slice(),
    );
  conv(); // XNNPACK packs the filter here
  const opt = new AdamW({ ...ADAMW_DEFAULTS, lr: 0.1, warmupSteps: 0, clipNorm: 0 });
  const grad = tf.randomNormal([3, 3, 4, 8], 0, 1, 'float32', 92);
  opt.step([{ name: 'f', variable: filter }], new Map([['f', grad]]));
  const after = conv();
  // The same values under a brand-new tensor id.
  const fresh = tf.tidy(() =>
    tf
      .conv2d(x, tf.add(filter, 0) as tf.Tensor4D, 1, 'same')
      .dataSync()
      .slice(),
  );
  expect(Array.from(after)).toEqual(Array.from(fresh));
  opt.dispose();
  tf.dispose([filter, x]);
});
