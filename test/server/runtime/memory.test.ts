import { tf } from '../../../server/runtime/tf';
import {
  countNewTensors,
  countTensors,
  expectNoTensorLeak,
  registerTensorValueHooks,
  tensorBytes,
  tensorGrowthPerRun,
  tensorValueHooks,
} from '../../../server/runtime/memory';
import { disposableLeaves, disposeValue, sizeOfValue } from '../../../server/engine/value-hooks';

beforeAll(() => registerTensorValueHooks());

describe('tensor sizes and engine hooks', () => {
  it('sizes tensors by dtype, and disposed ones as 0', () => {
    const f = tf.zeros([3, 4]);
    const i = tf.zeros([5], 'int32');
    const b = tf.zeros([7], 'bool');
    expect([tensorBytes(f), tensorBytes(i), tensorBytes(b)]).toEqual([48, 20, 7]);
    const s = tf.tensor(['ab', 'cde']);
    expect(tensorBytes(s)).toBe(5);
    f.dispose();
    expect(tensorBytes(f)).toBe(0);
    tf.dispose([i, b, s]);
  });

  it('lets the engine cache weigh and free tensor outputs, including nested ones and variables', () => {
    const samples = tf.ones([1, 4, 4, 2]);
    const v = tf.variable(tf.zeros([10]));
    const latent = { samples, extra: [v] };
    expect(sizeOfValue(latent)).toBe(128 + 40);
    expect(tensorValueHooks.sizeOf('not a tensor')).toBeUndefined();
    for (const leaf of disposableLeaves(latent)) disposeValue(leaf);
    expect(samples.isDisposed).toBe(true);
    expect(v.isDisposed).toBe(true);
    expect(tensorValueHooks.dispose(samples)).toBe(true); // twice is harmless
    expect(tensorValueHooks.dispose({})).toBe(false);
  });
});

describe('leak checks', () => {
  it('counts new tensors and bytes', async () => {
    const { result, tensors, bytes } = await countNewTensors(() => tf.tidy(() => tf.ones([2, 2]).add(1)));
    expect(tensors).toBe(1);
    expect(bytes).toBe(16);
    result.dispose();
  });

  it('reports growth per run: 0 for clean code, 1 for code that leaks one tensor each time', async () => {
    const kept: tf.Tensor[] = [];
    expect(await tensorGrowthPerRun(() => tf.tidy(() => tf.ones([3]).square().sum().dataSync()))).toBe(0);
    expect(await tensorGrowthPerRun(() => kept.push(tf.ones([3])), { warmup: 0, runs: 4 })).toBe(1);
    tf.dispose(kept);
  });

  it('tells returned tensors from leaked ones', async () => {
    const out = await expectNoTensorLeak('clean', () => ({ a: tf.ones([1]), list: [tf.zeros([1])] }));
    expect(countTensors(out)).toBe(2);
    tf.dispose([out.a, ...out.list]);
    let leaked: tf.Tensor | null = null;
    await expect(
      expectNoTensorLeak('LeakyNode', () => {
        leaked = tf.ones([1]);
        return tf.zeros([1]);
      }),
    ).rejects.toThrow('LeakyNode leaked 1 tensor(s) (2 new, 1 returned)');
    tf.dispose(leaked!);
  });
});
