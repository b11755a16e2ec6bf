import { initRuntime, tf } from '../../../server/runtime';
import { leanVariableGrads } from '../../../server/runtime/lean-grads';
import { DDiT } from '../../../nodes/ddit/model';
import { randomizeModule } from '../../helpers/random-state';

/** Peak bytes held by live tensors while `run` executes (sampled after every kernel). */
function peakBytes<T>(run: () => T): { result: T; peak: number } {
  const engine = tf.engine() as unknown as { runKernel: (...a: unknown[]) => unknown };
  const original = engine.runKernel;
  let peak = tf.memory().numBytes;
  engine.runKernel = function (this: unknown, ...a: unknown[]) {
    const out = original.apply(this, a);
    peak = Math.max(peak, tf.memory().numBytes);
    return out;
  };
  try {
    return { result: run(), peak };
  } finally {
    engine.runKernel = original;
  }
}

describe('leanVariableGrads', () => {
  let model: DDiT;
  let vars: tf.Variable[];
  const B = 4;
  let z: tf.Tensor4D;
  let enc: tf.Tensor3D;
  let target: tf.Tensor4D;

  beforeAll(async () => {
    await initRuntime({ backend: 'wasm' });
    model = randomizeModule(
      new DDiT({
        sample_size: 8,
        patch_size: 1,
        in_channels: 4,
        num_layers: 3,
        num_attention_heads: 2,
        attention_head_dim: 16,
        joint_attention_dim: 24,
        pos_embed_max_size: 8,
        vocab_size: 11,
      }),
      3,
      0.1,
    );
    vars = model.namedParameters().map(([, p]) => p.value);
    z = tf.randomNormal([B, 8, 8, 4], 0, 1, 'float32', 1) as tf.Tensor4D;
    enc = tf.randomNormal([B, 12, 24], 0, 1, 'float32', 2) as tf.Tensor3D;
    target = tf.randomNormal([B, 8, 8, 4], 0, 1, 'float32', 3) as tf.Tensor4D;
  });

  afterAll(() => {
    model.dispose();
    tf.dispose([z, enc, target]);
  });

  // Both heads, so the tape holds a joint block's every kind of node (including multi-output kernels).
  const loss = (): tf.Scalar => {
    const out = model.forward(z, [100, 400, 700, 900], enc);
    const img = tf.mean(tf.square(tf.sub(out.velocity!, target)));
    return tf.add(img, tf.mean(tf.square(out.logits!))) as tf.Scalar;
  };

  it('gives exactly the gradients of tf.variableGrads while holding less memory at its peak', () => {
    const before = tf.memory().numTensors;
    const plain = peakBytes(() => tf.variableGrads(loss, vars));
    const lean = peakBytes(() => leanVariableGrads(loss, vars));
    expect(lean.result.value.dataSync()[0]).toBe(plain.result.value.dataSync()[0]);
    const names = Object.keys(plain.result.grads);
    expect(Object.keys(lean.result.grads).sort()).toEqual(names.sort());
    for (const n of names) {
      expect(Array.from(lean.result.grads[n].dataSync())).toEqual(
        Array.from(plain.result.grads[n].dataSync()),
      );
    }
    expect(lean.peak).toBeLessThan(0.8 * plain.peak);
    for (const r of [plain.result, lean.result]) tf.dispose([r.value, ...Object.values(r.grads)]);
    // nothing freed twice, nothing left behind
    expect(tf.memory().numTensors).toBe(before);
  });

  it('leaves tf.variableGrads untouched afterwards, also when the loss throws', () => {
    const engine = tf.engine() as unknown as { addTapeNode: unknown };
    const original = engine.addTapeNode;
    expect(() =>
      leanVariableGrads(() => {
        throw new Error('loss failed');
      }, vars),
    ).toThrow('loss failed');
    expect(engine.addTapeNode).toBe(original);
    const { value, grads } = leanVariableGrads(loss, vars);
    expect(engine.addTapeNode).toBe(original);
    tf.dispose([value, ...Object.values(grads)]);
  });
});
