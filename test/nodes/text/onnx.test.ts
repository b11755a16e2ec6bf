import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initRuntime, tf } from '../../../server/runtime';
import { T5Encoder, type T5Config } from '../../../nodes/text/t5';
import { exportT5, OnnxTextEncoder } from '../../../nodes/text/onnx';
import { buildT5Graph } from '../../../nodes/text/onnx-export';
import { OnnxModel } from '../../../server/runtime/onnx';
import { maxAbsDiff, randomizeModule } from '../../helpers/random-state';

const BASE: T5Config = {
  vocab_size: 20,
  d_model: 8,
  d_kv: 4,
  d_ff: 12,
  num_layers: 2,
  num_heads: 2,
  relative_attention_num_buckets: 6,
  relative_attention_max_distance: 8,
};

let dir: string;
beforeAll(async () => {
  await initRuntime({ backend: 'cpu' });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 't5-onnx-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The ONNX export of `t5` encodes two sequences of each length as the tfjs model does (to 1e-4). */
async function expectAgreement(t5: T5Encoder, lengths: number[]): Promise<void> {
  const onnx = await OnnxTextEncoder.fromModel(t5, { cacheDir: dir });
  for (const M of lengths) {
    const ids = tf.tensor2d(
      Array.from({ length: 2 * M }, (_, i) => (i * 7 + 3) % 20),
      [2, M],
      'int32',
    );
    const ref = t5.encode(ids);
    const got = await onnx.encode(ids);
    expect(got.shape).toEqual([2, M, 8]);
    expect(maxAbsDiff(got, ref)).toBeLessThan(1e-4);
    tf.dispose([ids, ref, got]);
  }
  onnx.dispose();
  t5.dispose();
}

describe.each(['gated-gelu', 'relu', 'gelu', 'gated-relu'])('OnnxTextEncoder (%s)', (ff) => {
  it('agrees with T5Encoder for lengths within and far beyond the bias distance', async () => {
    await expectAgreement(randomizeModule(new T5Encoder({ ...BASE, feed_forward_proj: ff }), 7), [1, 5, 24]);
  });
});

it('takes number[][] ids, rejects ids outside the vocabulary, and opens from a file', async () => {
  const t5 = randomizeModule(new T5Encoder({ ...BASE, feed_forward_proj: 'gated-gelu' }), 8);
  const onnx = await OnnxTextEncoder.load(exportT5(t5, { cacheDir: dir }), t5.config);
  const ids = [
    [1, 2, 3],
    [4, 5, 19],
  ];
  const ref = t5.encode(ids);
  const got = await onnx.encode(ids);
  expect(maxAbsDiff(got, ref)).toBeLessThan(1e-4);
  await expect(onnx.encode([[0, 20]])).rejects.toThrow('token id 20 is outside the vocabulary (size 20)');
  await expect(onnx.encode([[-1, 2]])).rejects.toThrow('token id -1');
  tf.dispose([ref, got]);
  onnx.dispose();
  t5.dispose();
});

it('a standard-ops graph (no onnxruntime contrib ops) gives the same states', async () => {
  const t5 = randomizeModule(new T5Encoder({ ...BASE, feed_forward_proj: 'gated-gelu' }), 9);
  const session = await OnnxModel.load(buildT5Graph(t5, { contribOps: false }).toBytes());
  const ids = tf.tensor2d([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8], [1, 12], 'int32');
  const { hidden } = await session.run({ ids });
  const ref = t5.encode(ids);
  expect(maxAbsDiff(hidden, ref)).toBeLessThan(1e-4);
  tf.dispose([ids, hidden, ref]);
  session.dispose();
  t5.dispose();
});

it('token shift (not part of T5): the ONNX graph mixes the same neighbours', async () => {
  await expectAgreement(randomizeModule(new T5Encoder({ ...BASE, token_shift: true }), 11), [1, 2, 9]);
});

it('learned absolute positions (not part of T5): the ONNX graph adds the same rows', async () => {
  const t5 = randomizeModule(new T5Encoder({ ...BASE, absolute_position_embeddings: 16 }), 10);
  const onnx = await OnnxTextEncoder.fromModel(t5, { cacheDir: dir });
  for (const M of [1, 7, 16]) {
    const ids = tf.tensor2d(
      Array.from({ length: M }, () => 19),
      [1, M],
      'int32',
    );
    const ref = t5.encode(ids);
    const got = await onnx.encode(ids);
    expect(maxAbsDiff(got, ref)).toBeLessThan(1e-4);
    tf.dispose([ids, ref, got]);
  }
  onnx.dispose();
  t5.dispose();
});
