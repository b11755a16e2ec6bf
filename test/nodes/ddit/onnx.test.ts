import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initRuntime, tf } from '../../../server/runtime';
import { DDiT, type DDiTConfig } from '../../../nodes/ddit/model';
import { OnnxDDiT } from '../../../nodes/ddit/onnx';
import { buildDDiTGraph } from '../../../nodes/ddit/onnx-export';
import { OnnxModel } from '../../../server/runtime/onnx';
import { maxAbsDiff, randomizeModule } from '../../helpers/random-state';

const CFG: DDiTConfig = {
  sample_size: 8,
  patch_size: 2,
  in_channels: 3,
  num_layers: 2,
  num_attention_heads: 2,
  attention_head_dim: 4,
  joint_attention_dim: 5,
  pos_embed_max_size: 6,
  vocab_size: 7,
  null_image_tokens: 2,
};

let dir: string;
beforeAll(async () => {
  await initRuntime({ backend: 'cpu' });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-onnx-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const TOL = 1e-4;

describe.each([
  ['patch 2', CFG],
  ['patch 1', { ...CFG, patch_size: 1, out_channels: 2, sample_size: 4 }],
  ['pooled text', { ...CFG, text_pooling: 'mean' as const }],
])('OnnxDDiT (%s) agrees with the tfjs DDiT', (_label, cfg) => {
  let model: DDiT;
  let onnx: OnnxDDiT;
  beforeAll(async () => {
    model = randomizeModule(new DDiT(cfg), 1);
    onnx = await OnnxDDiT.fromModel(model, { cacheDir: dir });
  });
  afterAll(() => {
    onnx.dispose();
    model.dispose();
  });

  it.each([
    ['both heads', {}],
    ['image head only', { text: false }],
    ['text head only', { image: false }],
  ])('%s, on several batch sizes and latent sizes from one OnnxDDiT', async (_h, heads) => {
    for (const [B, h, w, M] of [
      [2, 4, 6, 3],
      [1, 6, 6, 5],
      [3, 2, 4, 1],
    ]) {
      const z = tf.randomNormal([B, h, w, cfg.in_channels], 0, 1, 'float32', B * 10 + h) as tf.Tensor4D;
      const enc = tf.randomNormal([B, M, cfg.joint_attention_dim], 0, 1, 'float32', M) as tf.Tensor3D;
      const tau = Array.from({ length: B }, (_, i) => i * 371.25);
      const ref = model.forward(z, tau, enc, heads);
      const got = await onnx.forward(z, tau, enc, heads);
      expect(Object.keys(got).sort()).toEqual(Object.keys(ref).sort());
      if (ref.velocity) {
        expect(got.velocity!.shape).toEqual([B, h, w, model.config.out_channels]);
        expect(maxAbsDiff(got.velocity!, ref.velocity)).toBeLessThan(TOL);
      }
      if (ref.logits) {
        expect(got.logits!.shape).toEqual([B, M, cfg.vocab_size]);
        expect(maxAbsDiff(got.logits!, ref.logits)).toBeLessThan(TOL);
      }
      tf.dispose([z, enc, ...Object.values(ref), ...Object.values(got)]);
    }
  });

  it('takes tau as a number, an array or a tensor', async () => {
    const z = tf.randomNormal([2, 4, 4, cfg.in_channels], 0, 1, 'float32', 3) as tf.Tensor4D;
    const enc = tf.randomNormal([2, 3, cfg.joint_attention_dim], 0, 1, 'float32', 4) as tf.Tensor3D;
    const ref = model.forward(z, 250, enc);
    for (const tau of [250, [250, 250], tf.tensor1d([250, 250])]) {
      const got = await onnx.forward(z, tau, enc);
      expect(maxAbsDiff(got.velocity, ref.velocity)).toBeLessThan(TOL);
      expect(maxAbsDiff(got.logits, ref.logits)).toBeLessThan(TOL);
      tf.dispose([got.velocity, got.logits]);
      if (tau instanceof tf.Tensor) {
        expect(tau.isDisposed).toBe(false);
        tau.dispose();
      }
    }
    tf.dispose([z, enc, ref.velocity, ref.logits]);
  });

  it('runs a text-only call on the null image tokens (z = null) through its own graph', async () => {
    const enc = tf.randomNormal([2, 4, cfg.joint_attention_dim], 0, 1, 'float32', 8) as tf.Tensor3D;
    const ref = model.forward(null, 0, enc, {});
    const got = await onnx.forward(null, 0, enc, {});
    expect(got.velocity).toBeUndefined();
    expect(maxAbsDiff(got.logits!, ref.logits!)).toBeLessThan(TOL);
    tf.dispose([enc, ref.logits!, got.logits!]);
  });
});

describe('OnnxDDiT errors and files', () => {
  it('names the bad input', async () => {
    const model = randomizeModule(new DDiT(CFG), 2);
    const onnx = await OnnxDDiT.fromModel(model, { cacheDir: dir });
    const enc = tf.zeros([1, 3, 5]) as tf.Tensor3D;
    await expect(onnx.forward(tf.zeros([1, 4, 4, 2]) as tf.Tensor4D, 0, enc)).rejects.toThrow(
      'latent has 2 channels, the model expects 3',
    );
    await expect(onnx.forward(tf.zeros([1, 3, 4, 3]) as tf.Tensor4D, 0, enc)).rejects.toThrow(
      'not divisible by the patch size 2',
    );
    await expect(onnx.forward(tf.zeros([1, 14, 4, 3]) as tf.Tensor4D, 0, enc)).rejects.toThrow(
      'exceeds the position table',
    );
    await expect(onnx.forward(tf.zeros([2, 4, 4, 3]) as tf.Tensor4D, 0, enc)).rejects.toThrow(
      'latent batch 2 ≠ text batch 1',
    );
    await expect(
      onnx.forward(tf.zeros([1, 4, 4, 3]) as tf.Tensor4D, 0, tf.zeros([1, 3, 4]) as tf.Tensor3D),
    ).rejects.toThrow('text embeddings must be [B, M, 5]');
    onnx.dispose();
    await expect(onnx.forward(tf.zeros([1, 4, 4, 3]) as tf.Tensor4D, 0, enc)).rejects.toThrow(
      'after dispose',
    );
    model.dispose();
  });

  it('opens an exported file without the tfjs weights', async () => {
    const model = randomizeModule(new DDiT(CFG), 3);
    const file = path.join(dir, 'standalone.onnx');
    buildDDiTGraph(model).save(file);
    const onnx = await OnnxDDiT.load(file, CFG);
    const z = tf.randomNormal([1, 4, 4, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const enc = tf.randomNormal([1, 2, 5], 0, 1, 'float32', 2) as tf.Tensor3D;
    const ref = model.forward(z, 500, enc);
    const got = await onnx.forward(z, 500, enc);
    expect(maxAbsDiff(got.velocity, ref.velocity)).toBeLessThan(TOL);
    await expect(onnx.forward(null, 0, enc, {})).rejects.toThrow('needs the tfjs model');
    onnx.dispose();
    model.dispose();
  });

  it("a call for one head runs that head's graph, from the tfjs model or from files", async () => {
    const model = randomizeModule(new DDiT(CFG), 5);
    const z = tf.randomNormal([2, 4, 4, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const enc = tf.randomNormal([2, 2, 5], 0, 1, 'float32', 2) as tf.Tensor3D;
    const tau = tf.tensor1d([10, 900]);
    const ref = model.forward(z, tau, enc);
    const check = async (onnx: OnnxDDiT, opened: string[]): Promise<void> => {
      const img = await onnx.forward(z, tau, enc, { text: false });
      expect(img.logits).toBeUndefined();
      expect(maxAbsDiff(img.velocity!, ref.velocity)).toBeLessThan(TOL);
      const txt = await onnx.forward(z, tau, enc, { image: false });
      expect(txt.velocity).toBeUndefined();
      expect(maxAbsDiff(txt.logits!, ref.logits)).toBeLessThan(TOL);
      expect(onnx.openVariants).toEqual(opened);
      tf.dispose([img.velocity!, txt.logits!]);
    };
    // the 'both' graph, opened up front and unused, is closed when a head's graph opens
    const fromModel = await OnnxDDiT.fromModel(model, { cacheDir: dir });
    expect(fromModel.openVariants).toEqual(['both']);
    await check(fromModel, ['image', 'text']);
    // and opened again for a call that wants both heads
    const again = await fromModel.forward(z, tau, enc);
    expect(maxAbsDiff(again.velocity, ref.velocity)).toBeLessThan(TOL);
    expect(fromModel.openVariants).toEqual(['image', 'text', 'both']);
    fromModel.dispose();
    const files = { both: '', image: '', text: '' };
    for (const v of ['both', 'image', 'text'] as const) {
      files[v] = path.join(dir, `head-${v}.onnx`);
      buildDDiTGraph(model, { variant: v }).save(files[v]);
    }
    const fromFiles = await OnnxDDiT.load(files, CFG);
    await check(fromFiles, ['image', 'text']);
    fromFiles.dispose();
    // with the 'both' file alone, every call runs it
    const bothOnly = await OnnxDDiT.load(files.both, CFG);
    await check(bothOnly, ['both']);
    bothOnly.dispose();
    tf.dispose([z, enc, tau, ref.velocity, ref.logits, again.velocity, again.logits]);
    model.dispose();
  });

  it('standard-ops graphs (no onnxruntime contrib ops) give the same outputs', async () => {
    const model = randomizeModule(new DDiT(CFG), 4);
    const session = await OnnxModel.load(buildDDiTGraph(model, { contribOps: false }).toBytes());
    const z = tf.randomNormal([2, 4, 4, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const enc = tf.randomNormal([2, 2, 5], 0, 1, 'float32', 2) as tf.Tensor3D;
    const tau = tf.tensor1d([10, 900]);
    const ref = model.forward(z, tau, enc);
    const got = await session.run({ z, tau, enc });
    expect(maxAbsDiff(got.velocity, ref.velocity)).toBeLessThan(TOL);
    expect(maxAbsDiff(got.logits, ref.logits)).toBeLessThan(TOL);
    session.dispose();
    model.dispose();
  });
});
