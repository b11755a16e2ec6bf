/**
 * The loaders' `inference` input through the real engine: onnx and tfjs give the same D-DiT, VAE and text
 * encoder results; onnx caches its exports beside the checkpoint, tfjs never exports.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Engine, loadBuiltinPacks, NodeRegistry, type ApiPrompt } from '../../../server/engine';
import { initRuntime } from '../../../server/runtime';
import { saveCheckpoint } from '../../../nodes/ddit/checkpoint';
import { DDiT } from '../../../nodes/ddit/model';
import { T5Encoder } from '../../../nodes/text/t5';
import { TextTokenizer } from '../../../nodes/text/tokenizer';
import { AutoencoderKL } from '../../../nodes/vae/model';
import { randomizeModule } from '../../helpers/random-state';
import { wordLevelJson } from '../text/fixtures';
import { defineNode } from '../../../server/engine/define-node';

const silent = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };
let root: string;
let engine: Engine;
let ckpt: string;
let savedEnv: string | undefined;
const captured = new Map<string, number[]>();

/** Records a tensor-holding value's numbers under a key, for comparing runs. */
const Capture = defineNode({
  type: 'TestCaptureNumbers',
  category: 'test',
  description: 'test probe',
  output: true,
  inputs: {
    key: { type: 'STRING', default: '' },
    latent: { type: 'LATENT', optional: true },
    image: { type: 'IMAGE', optional: true },
    conditioning: { type: 'CONDITIONING', optional: true },
  },
  outputs: {},
  run({ key, latent, image, conditioning }) {
    const t =
      (latent as { samples: { dataSync(): Float32Array } } | undefined)?.samples ??
      (image as { dataSync(): Float32Array } | undefined) ??
      (conditioning as { embeds: { dataSync(): Float32Array } }).embeds;
    captured.set(key, Array.from(t.dataSync()));
    return {};
  },
});

beforeAll(async () => {
  await initRuntime({ backend: 'cpu' });
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-inference-nodes-'));
  const folders = {
    models: path.join(root, 'models'),
    input: path.join(root, 'input'),
    output: path.join(root, 'output'),
    temp: path.join(root, 'temp'),
  };
  Object.values(folders).forEach((d) => fs.mkdirSync(d));
  // COMBO choices are listed without a node context: point them at the same folders
  savedEnv = process.env.DDIT_MODELS_DIR;
  process.env.DDIT_MODELS_DIR = folders.models;
  const tok = TextTokenizer.fromJson(wordLevelJson());
  const dit = randomizeModule(
    new DDiT({
      sample_size: 4,
      patch_size: 2,
      in_channels: 3,
      num_layers: 1,
      num_attention_heads: 2,
      attention_head_dim: 4,
      joint_attention_dim: 6,
      pos_embed_max_size: 4,
      vocab_size: tok.vocabSize,
    }),
    1,
  );
  const vae = randomizeModule(
    new AutoencoderKL({
      block_out_channels: [2, 4],
      layers_per_block: 1,
      latent_channels: 3,
      norm_num_groups: 2,
    }),
    2,
  );
  const t5 = randomizeModule(
    new T5Encoder({ vocab_size: tok.vocabSize, d_model: 6, d_kv: 2, d_ff: 8, num_layers: 1, num_heads: 2 }),
    3,
  );
  ckpt = path.join(folders.models, 'tiny.safetensors');
  await saveCheckpoint(ckpt, { transformer: dit, vae, textEncoder: t5, tokenizer: tok });
  [dit, vae, t5].forEach((m) => m.dispose());
  const registry = new NodeRegistry();
  loadBuiltinPacks(registry);
  registry.register(Capture, 'test');
  engine = new Engine({ registry, folders, log: silent });
});

afterAll(() => {
  if (savedEnv === undefined) delete process.env.DDIT_MODELS_DIR;
  else process.env.DDIT_MODELS_DIR = savedEnv;
  fs.rmSync(root, { recursive: true, force: true });
});

function prompt(inference: string): ApiPrompt {
  return {
    ck: { class_type: 'LoadCheckpoint', inputs: { ckpt_name: 'tiny.safetensors', inference } },
    te: {
      class_type: 'TextEncode',
      inputs: { tokenizer: ['ck', 3], text_encoder: ['ck', 2], text: 'a red circle', length: 5 },
    },
    lat: {
      class_type: 'EmptyLatent',
      inputs: { width: 8, height: 8, batch_size: 1, channels: 3, downscale: 2, vae: ['ck', 1] },
    },
    dec0: { class_type: 'VAEDecode', inputs: { samples: ['lat', 0], vae: ['ck', 1] } },
    enc: {
      class_type: 'VAEEncode',
      inputs: { pixels: ['dec0', 0], vae: ['ck', 1], mode: 'sample', seed: 4 },
    },
    fwd: {
      class_type: 'DDiTForward',
      inputs: { model: ['ck', 0], latent: ['enc', 0], conditioning: ['te', 0], timestep: 500, heads: 'both' },
    },
    dec: { class_type: 'VAEDecode', inputs: { samples: ['fwd', 0], vae: ['ck', 1] } },
    c1: { class_type: 'TestCaptureNumbers', inputs: { key: `${inference}:te`, conditioning: ['te', 0] } },
    c2: { class_type: 'TestCaptureNumbers', inputs: { key: `${inference}:enc`, latent: ['enc', 0] } },
    c3: { class_type: 'TestCaptureNumbers', inputs: { key: `${inference}:fwd`, latent: ['fwd', 0] } },
    c4: { class_type: 'TestCaptureNumbers', inputs: { key: `${inference}:dec`, image: ['dec', 0] } },
  };
}

test("LoadCheckpoint's inference input: onnx and tfjs agree; only onnx exports, beside the checkpoint", async () => {
  const cacheDir = path.join(path.dirname(ckpt), '.tiny.safetensors.onnx');
  const saved = process.env.DDIT_ONNX_CACHE;
  delete process.env.DDIT_ONNX_CACHE;
  try {
    const t = await engine.execute(prompt('tfjs'));
    expect(t.error).toBeUndefined();
    expect(fs.existsSync(cacheDir)).toBe(false);
    const o = await engine.execute(prompt('onnx'));
    expect(o.error).toBeUndefined();
    expect(fs.readdirSync(cacheDir).sort()).toEqual([
      expect.stringMatching(/^ddit-both-[0-9a-f]{16}\.onnx$/),
      expect.stringMatching(/^text-encoder-[0-9a-f]{16}\.onnx$/),
      expect.stringMatching(/^vae-decoder-[0-9a-f]{16}\.onnx$/),
      expect.stringMatching(/^vae-encoder-[0-9a-f]{16}\.onnx$/),
    ]);
    for (const key of ['te', 'enc', 'fwd', 'dec']) {
      const a = captured.get(`tfjs:${key}`)!;
      const b = captured.get(`onnx:${key}`)!;
      expect(b.length).toBe(a.length);
      expect(Math.max(...a.map((v, i) => Math.abs(v - b[i])))).toBeLessThan(1e-4);
    }
  } finally {
    if (saved !== undefined) process.env.DDIT_ONNX_CACHE = saved;
  }
});

test('a bad inference choice is named', async () => {
  const r = await engine.execute(prompt('gpu'));
  expect(r.status).toBe('error');
  expect(JSON.stringify(r.error ?? r)).toMatch(/inference/);
});
