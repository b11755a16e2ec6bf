import { initRuntime, tf } from '../../../server/runtime';
import { loadNativeKernels, nativeKernelsStatus } from '../../../server/runtime/native-kernels';
import { AdamW, ADAMW_DEFAULTS, type TrainParam } from '../../../nodes/training/adamw';

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
  const storage = params.map((p) => p.variable.dataId);
  const opt = new AdamW({ ...ADAMW_DEFAULTS, lr: 1e-2, warmupSteps: 2, weightDecay: 0.1, clipNorm: 50 });
  for (let step = 0; step < 4; step++) {
    const grads = new Map(
      params.map((p, i) => [p.name, tf.randomNormal(p.variable.shape, 0, 1, 'float32', 100 * step + i + 1)]),
    );
    const report = opt.step(params, grads);
    expect(report.clipped).toBe(true); // so the gradient scale path runs too
  }
  // The native step writes in place; the tensor-op step assigns new storage.
  params.forEach((p, i) => expect(p.variable.dataId === storage[i]).toBe(native));
  const out = params.map((p) => p.variable.dataSync().slice() as Float32Array);
  opt.dispose();
  for (const p of params) p.variable.dispose();
  return out;
}

beforeAll(async () => {
  await initRuntime({ backend: 'wasm' });
});

afterAll(() => {
  loadNativeKernels();
});

it('AdamW takes the native in-place step on wasm and matches the tensor-op update', () => {
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
