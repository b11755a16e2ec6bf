import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initRuntime, tf } from '../../../server/runtime';
import { DDiT, type DDiTConfig } from '../../../nodes/ddit/model';
import {
  inferenceEngineFromEnv,
  InferenceDDiT,
  InferenceTextEncoder,
  InferenceVae,
  selectInferenceModel,
  tfjsModelOf,
} from '../../../nodes/ddit/inference';
import { AutoencoderKL } from '../../../nodes/vae/model';
import { T5Encoder } from '../../../nodes/text/t5';
import { maxAbsDiff, randomizeModule } from '../../helpers/random-state';

const CFG: DDiTConfig = {
  sample_size: 4,
  patch_size: 1,
  in_channels: 2,
  num_layers: 1,
  num_attention_heads: 2,
  attention_head_dim: 4,
  joint_attention_dim: 6,
  pos_embed_max_size: 4,
  vocab_size: 5,
};

let dir: string;
beforeAll(async () => {
  await initRuntime({ backend: 'cpu' });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-inference-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function inputs(seed: number): { z: tf.Tensor4D; enc: tf.Tensor3D } {
  return {
    z: tf.randomNormal([2, 4, 4, 2], 0, 1, 'float32', seed) as tf.Tensor4D,
    enc: tf.randomNormal([2, 3, 6], 0, 1, 'float32', seed + 1) as tf.Tensor3D,
  };
}

async function velocity(
  model: { forward: DDiT['forward'] | InferenceDDiT['forward'] },
  seed: number,
): Promise<tf.Tensor> {
  const { z, enc } = inputs(seed);
  const out = await model.forward(z, 300, enc, { text: false });
  tf.dispose([z, enc]);
  return out.velocity!;
}

describe('selectInferenceModel', () => {
  it("'tfjs' (option or DDIT_INFERENCE) returns the tfjs model itself", () => {
    const model = randomizeModule(new DDiT(CFG), 1);
    expect(selectInferenceModel(model, { engine: 'tfjs' })).toBe(model);
    const saved = process.env.DDIT_INFERENCE;
    try {
      process.env.DDIT_INFERENCE = 'TFJS';
      expect(selectInferenceModel(model)).toBe(model);
      process.env.DDIT_INFERENCE = 'gpu';
      expect(() => inferenceEngineFromEnv()).toThrow('DDIT_INFERENCE="gpu" is not one of auto, onnx, tfjs');
      delete process.env.DDIT_INFERENCE;
      expect(inferenceEngineFromEnv()).toBe('auto');
    } finally {
      if (saved === undefined) delete process.env.DDIT_INFERENCE;
      else process.env.DDIT_INFERENCE = saved;
    }
    model.dispose();
  });

  it("'auto' serves the D-DiT from onnxruntime with the tfjs outputs, and reuses the session", async () => {
    const model = randomizeModule(new DDiT(CFG), 2);
    const sel = selectInferenceModel(model, { engine: 'auto', cacheDir: dir }) as InferenceDDiT;
    expect(sel).toBeInstanceOf(InferenceDDiT);
    expect(sel.engine).toBeNull();
    const got = await velocity(sel, 5);
    expect(sel.engine).toBe('onnx');
    const ref = await velocity(model, 5);
    expect(maxAbsDiff(got, ref)).toBeLessThan(1e-4);
    expect(selectInferenceModel(model, { engine: 'auto', cacheDir: dir })).toBe(sel);
    expect(tfjsModelOf(sel)).toBe(model);
    tf.dispose([got, ref]);
    sel.dispose();
    model.dispose();
  });

  it('exports again when the weights change (an optimiser step assigns new values)', async () => {
    const model = randomizeModule(new DDiT(CFG), 3);
    const first = selectInferenceModel(model, { engine: 'onnx', cacheDir: dir }) as InferenceDDiT;
    const before = await velocity(first, 7);
    const p = model.imageProjOut.weight;
    const bumped = tf.add(p.value, 0.5);
    p.set(bumped);
    bumped.dispose();
    const second = selectInferenceModel(model, { engine: 'onnx', cacheDir: dir }) as InferenceDDiT;
    expect(second).not.toBe(first);
    const after = await velocity(second, 7);
    const ref = await velocity(model, 7);
    expect(maxAbsDiff(after, ref)).toBeLessThan(1e-4);
    expect(maxAbsDiff(after, before)).toBeGreaterThan(1e-2);
    tf.dispose([before, after, ref]);
    first.dispose();
    second.dispose();
    model.dispose();
  });

  it("'auto' falls back to tfjs when ONNX cannot run, and says why; 'onnx' fails instead", async () => {
    // a cache folder that cannot be created (its parent is a file) makes the export fail
    const blocker = path.join(dir, 'not-a-folder');
    fs.writeFileSync(blocker, '');
    const cacheDir = path.join(blocker, 'cache');
    const model = randomizeModule(new DDiT(CFG), 4);
    const reasons: string[] = [];
    const sel = selectInferenceModel(model, {
      engine: 'auto',
      cacheDir,
      onFallback: (r) => reasons.push(r),
    }) as InferenceDDiT;
    const got = await velocity(sel, 9);
    const ref = await velocity(model, 9);
    expect(sel.engine).toBe('tfjs');
    expect(maxAbsDiff(got, ref)).toBe(0);
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatch(/^D-DiT: ONNX inference unavailable, using tfjs \(.*(ENOTDIR|EEXIST)/);
    expect(sel.fallbackReason).toMatch(/ENOTDIR|EEXIST/);
    const forced = selectInferenceModel(model, { engine: 'onnx', cacheDir });
    await expect(velocity(forced, 9)).rejects.toThrow('D-DiT: ONNX inference was requested but failed');
    tf.dispose([got, ref]);
    model.dispose();
  });

  it('selects the VAE and the text encoder the same way', async () => {
    const vae = randomizeModule(
      new AutoencoderKL({
        block_out_channels: [4, 4],
        norm_num_groups: 2,
        latent_channels: 2,
        layers_per_block: 1,
      }),
      5,
    );
    const sv = selectInferenceModel(vae, { engine: 'auto', cacheDir: dir }) as InferenceVae;
    expect(sv).toBeInstanceOf(InferenceVae);
    const latent = tf.randomNormal([1, 3, 3, 2], 0, 1, 'float32', 1) as tf.Tensor4D;
    expect(maxAbsDiff(await sv.decode(latent), vae.decode(latent))).toBeLessThan(1e-4);
    const image = tf.randomUniform([1, 4, 6, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
    expect(maxAbsDiff(await sv.encode(image, { seed: 3 }), vae.encode(image, { seed: 3 }))).toBeLessThan(
      1e-4,
    );
    expect(sv.engine).toBe('onnx');
    expect(sv.latentRgb).toBeUndefined();
    expect(sv.config).toBe(vae.config);

    const t5 = randomizeModule(
      new T5Encoder({ vocab_size: 9, d_model: 6, d_kv: 3, d_ff: 8, num_layers: 1, num_heads: 2 }),
      6,
    );
    const st = selectInferenceModel(t5, { engine: 'auto', cacheDir: dir }) as InferenceTextEncoder;
    expect(st).toBeInstanceOf(InferenceTextEncoder);
    const ids = [[1, 2, 8, 0]];
    expect(maxAbsDiff(await st.encode(ids), t5.encode(ids))).toBeLessThan(1e-4);
    expect(st.engine).toBe('onnx');
    sv.dispose();
    st.dispose();
    vae.dispose();
    t5.dispose();
  });
});
