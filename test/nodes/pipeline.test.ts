/**
 * The model packs' nodes run through the real engine on tiny models: a checkpoint and single-model files in a
 * temporary models folder, a PNG in the input folder.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { defineNode, Engine, loadBuiltinPacks, NodeRegistry, type ApiPrompt } from '../../server/engine';
import { saveSafetensors, tf } from '../../server/runtime';
import { saveCheckpoint } from '../../nodes/ddit/checkpoint';
import { DDiT } from '../../nodes/ddit/model';
import { T5Encoder } from '../../nodes/text/t5';
import { TextTokenizer } from '../../nodes/text/tokenizer';
import { AutoencoderKL } from '../../nodes/vae/model';
import { encodeRgbPng, readTextChunks } from '../../nodes/image/png';
import { LoadImage, PreviewImage, SaveImage } from '../../nodes/image/nodes';
import { VAEDecode, VAEEncode } from '../../nodes/vae/nodes';
import { useBackend } from '../helpers/gradcheck';
import { tinyVaeDecoderOnnx } from '../helpers/onnx-tiny';
import { wordLevelJson } from './text/fixtures';

/** Shows the shape of DDiTForward's outputs (nothing in the model packs consumes LOGITS yet). */
const LogitsShape = defineNode({
  type: 'TestLogitsShape',
  category: 'test',
  description: 'test probe',
  output: true,
  inputs: { logits: { type: 'LOGITS' }, velocity: { type: 'LATENT', optional: true } },
  outputs: {},
  run({ logits, velocity }, ctx) {
    ctx.ui({
      text: [`${JSON.stringify((logits as tf.Tensor).shape)} velocity=${velocity === null ? 'null' : 'set'}`],
    });
    return {};
  },
});

const ImageStats = defineNode({
  type: 'TestImageStats',
  category: 'test',
  description: 'test probe',
  output: true,
  inputs: { images: { type: 'IMAGE' } },
  outputs: {},
  run({ images }, ctx) {
    const t = images as tf.Tensor;
    ctx.ui({ text: [`${JSON.stringify(t.shape)} ${tf.mean(t).dataSync()[0].toFixed(5)}`] });
    return {};
  },
});

const silent = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };
const onnxDecoder = tinyVaeDecoderOnnx({ latentChannels: 3, factor: 2 });
let root: string;
let engine: Engine;
const saved: Record<string, string | undefined> = {};

beforeAll(async () => {
  await useBackend('wasm');
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-nodes-'));
  const folders = {
    models: path.join(root, 'models'),
    input: path.join(root, 'input'),
    output: path.join(root, 'output'),
    temp: path.join(root, 'temp'),
  };
  Object.values(folders).forEach((d) => fs.mkdirSync(d));
  // COMBO choices are listed without a node context: point them at the same folders
  for (const [k, v] of Object.entries({ DDIT_MODELS_DIR: folders.models, DDIT_INPUT_DIR: folders.input })) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  const tok = TextTokenizer.fromJson(wordLevelJson());
  const dit = new DDiT({
    sample_size: 4,
    patch_size: 2,
    in_channels: 3,
    num_layers: 1,
    num_attention_heads: 2,
    attention_head_dim: 4,
    joint_attention_dim: 6,
    pos_embed_max_size: 4,
    vocab_size: tok.vocabSize,
  }).initialize(1);
  const vae = new AutoencoderKL({
    block_out_channels: [2, 4],
    layers_per_block: 1,
    latent_channels: 3,
    norm_num_groups: 2,
  }).initialize(2);
  const t5 = new T5Encoder({
    vocab_size: tok.vocabSize,
    d_model: 6,
    d_kv: 2,
    d_ff: 8,
    num_layers: 1,
    num_heads: 2,
  }).initialize(3);
  await saveCheckpoint(path.join(folders.models, 'tiny.safetensors'), {
    transformer: dit,
    vae,
    textEncoder: t5,
    tokenizer: tok,
  });
  fs.mkdirSync(path.join(folders.models, 'parts'));
  await saveCheckpoint(path.join(folders.models, 'parts', 'vae.safetensors'), { vae });
  const t5state = t5.state();
  await saveSafetensors(path.join(folders.models, 'parts', 't5.safetensors'), Object.fromEntries(t5state), {
    metadata: { config: JSON.stringify(t5.config) },
  });
  t5state.forEach((t) => t.dispose());
  fs.writeFileSync(path.join(folders.models, 'parts', 'tokenizer.json'), tok.json);
  fs.writeFileSync(path.join(folders.models, 'parts', 'tokenizer_config.json'), '{}');
  fs.writeFileSync(path.join(folders.models, 'parts', 'decoder.onnx'), onnxDecoder.bytes);
  const px = new Float32Array(8 * 8 * 3).map((_, i) => (i % 7) / 7);
  fs.writeFileSync(path.join(folders.input, 'shape.png'), encodeRgbPng(px, 8, 8));
  [dit, vae, t5].forEach((m) => m.dispose());
  const registry = new NodeRegistry();
  loadBuiltinPacks(registry);
  engine = new Engine({ registry, folders, log: silent });
});

afterAll(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  fs.rmSync(root, { recursive: true, force: true });
});

const graph: ApiPrompt = {
  ck: { class_type: 'LoadCheckpoint', inputs: { ckpt_name: 'tiny.safetensors' } },
  te: {
    class_type: 'TextEncode',
    inputs: { tokenizer: ['ck', 3], text_encoder: ['ck', 2], text: 'a red circle', length: 5 },
  },
  img: { class_type: 'LoadImage', inputs: { image: 'shape.png' } },
  enc: { class_type: 'VAEEncode', inputs: { pixels: ['img', 0], vae: ['ck', 1], mode: 'sample', seed: 4 } },
  fwd: {
    class_type: 'DDiTForward',
    inputs: { model: ['ck', 0], latent: ['enc', 0], conditioning: ['te', 0], timestep: 500, heads: 'both' },
  },
  dec: { class_type: 'VAEDecode', inputs: { samples: ['fwd', 0], vae: ['ck', 1] } },
  save: { class_type: 'SaveImage', inputs: { images: ['dec', 0], filename_prefix: 'tiny' } },
  prev: { class_type: 'PreviewImage', inputs: { images: ['img', 0] } },
};

describe('model nodes through the engine', () => {
  test('the COMBOs list the models and input folders', () => {
    const combo = (type: string, input: string): string[] =>
      (engine.registry.get(type)!.inputs as Record<string, { choices: () => string[] }>)[input].choices();
    expect(combo('LoadCheckpoint', 'ckpt_name')).toEqual([
      'parts/t5.safetensors',
      'parts/vae.safetensors',
      'tiny.safetensors',
    ]);
    expect(combo('LoadTokenizer', 'tokenizer_name')).toContain('parts/tokenizer.json');
    expect(combo('LoadTokenizer', 'tokenizer_name')).not.toContain('parts/tokenizer_config.json');
    expect(combo('LoadImage', 'image')).toEqual(['shape.png']);
  });

  test('checkpoint → encode text and image → forward → decode → save, with the workflow in the PNG', async () => {
    const workflow = { nodes: [], links: [], version: 0.4 };
    const r = await engine.execute(graph, { extra: { extra_pnginfo: { workflow } } });
    expect(r.error).toBeUndefined();
    expect(r.status).toBe('success');
    const images = r.outputs.save.images!;
    expect(images).toEqual([{ filename: 'tiny_00001_.png', subfolder: '', type: 'output' }]);
    const png = fs.readFileSync(path.join(engine.folders.output, 'tiny_00001_.png'));
    const texts = readTextChunks(png);
    expect(JSON.parse(texts.workflow)).toEqual(workflow);
    expect(JSON.parse(texts.prompt).fwd.class_type).toBe('DDiTForward');
    expect(r.outputs.prev.images![0].type).toBe('temp');
    expect(fs.existsSync(path.join(engine.folders.temp, r.outputs.prev.images![0].filename))).toBe(true);
    // a second save numbers after the existing file
    const r2 = await engine.execute({
      ...graph,
      save: { class_type: 'SaveImage', inputs: { images: ['img', 0], filename_prefix: 'tiny' } },
    });
    expect(r2.outputs.save.images![0].filename).toBe('tiny_00002_.png');
  });

  test('single-model loaders, Tokenize, EmptyLatent and text-only forward', async () => {
    const prompt: ApiPrompt = {
      ck: { class_type: 'LoadCheckpoint', inputs: { ckpt_name: 'tiny.safetensors' } },
      tok: { class_type: 'LoadTokenizer', inputs: { tokenizer_name: 'parts/tokenizer.json' } },
      tokck: { class_type: 'LoadTokenizer', inputs: { tokenizer_name: 'tiny.safetensors' } },
      t5: { class_type: 'LoadTextEncoder', inputs: { text_encoder_name: 'parts/t5.safetensors' } },
      vae: { class_type: 'LoadVAE', inputs: { vae_name: 'parts/vae.safetensors' } },
      ids: {
        class_type: 'Tokenize',
        inputs: { tokenizer: ['tokck', 0], text: 'a blue square', length: 6, add_eos: true },
      },
      te: {
        class_type: 'TextEncode',
        inputs: { tokenizer: ['tok', 0], text_encoder: ['t5', 0], text: '', length: 6, tokens: ['ids', 0] },
      },
      lat: {
        class_type: 'EmptyLatent',
        inputs: { width: 8, height: 8, batch_size: 2, channels: 1, downscale: 1, vae: ['vae', 0] },
      },
      fwd: {
        class_type: 'DDiTForward',
        inputs: { model: ['ck', 0], latent: ['lat', 0], conditioning: ['te', 0], timestep: 0, heads: 'text' },
      },
      dec: { class_type: 'VAEDecode', inputs: { samples: ['lat', 0], vae: ['vae', 0] } },
      show: { class_type: 'PreviewImage', inputs: { images: ['dec', 0] } },
      shape: { class_type: 'TestLogitsShape', inputs: { logits: ['fwd', 1], velocity: ['fwd', 0] } },
    };
    if (!engine.registry.has('TestLogitsShape')) engine.registry.register(LogitsShape, 'test');
    const r = await engine.execute(prompt);
    expect(r.error).toBeUndefined();
    expect(r.outputs.show.images!.length).toBe(2);
    // text head only: logits [B, M, V], no velocity
    expect(r.outputs.shape.text).toEqual([
      `[2,6,${TextTokenizer.fromJson(wordLevelJson()).vocabSize}] velocity=null`,
    ]);
  });

  test('an .onnx VAE decoder runs through the same LoadVAE / EmptyLatent / VAEDecode nodes', async () => {
    if (!engine.registry.has('TestImageStats')) engine.registry.register(ImageStats, 'test');
    const prompt = (vae: string): ApiPrompt => ({
      vae: { class_type: 'LoadVAE', inputs: { vae_name: vae } },
      lat: {
        class_type: 'EmptyLatent',
        inputs: { width: 16, height: 8, batch_size: 1, channels: 1, downscale: 1, vae: ['vae', 0] },
      },
      dec: { class_type: 'VAEDecode', inputs: { samples: ['lat', 0], vae: ['vae', 0] } },
      st: { class_type: 'TestImageStats', inputs: { images: ['dec', 0] } },
    });
    const r = await engine.execute(prompt('parts/decoder.onnx'));
    expect(r.error).toBeUndefined();
    const ref = onnxDecoder.reference(tf.zeros([1, 4, 8, 3]) as tf.Tensor4D);
    expect(r.outputs.st.text).toEqual([`[1,8,16,3] ${tf.mean(ref).dataSync()[0].toFixed(5)}`]);
    const r2 = await engine.execute(prompt('parts/vae.safetensors'));
    expect(r2.outputs.st.text![0]).toMatch(/^\[1,8,16,3\] /);
  });

  test('errors name the node and the input', async () => {
    const bad: ApiPrompt = {
      ck: { class_type: 'LoadCheckpoint', inputs: { ckpt_name: 'parts/vae.safetensors' } },
      te: {
        class_type: 'TextEncode',
        inputs: { tokenizer: ['ck', 3], text_encoder: ['ck', 2], text: 'a', length: 4 },
      },
      fwd: {
        class_type: 'DDiTForward',
        inputs: { model: ['ck', 0], latent: ['lat', 0], conditioning: ['te', 0], timestep: 1, heads: 'both' },
      },
      lat: {
        class_type: 'EmptyLatent',
        inputs: { width: 8, height: 8, batch_size: 1, channels: 3, downscale: 2 },
      },
      dec: { class_type: 'VAEDecode', inputs: { samples: ['fwd', 0], vae: ['ck', 1] } },
      save: { class_type: 'PreviewImage', inputs: { images: ['dec', 0] } },
    };
    const r = await engine.execute(bad);
    expect(r.status).toBe('error');
    expect(r.error!.nodeId).toBe('ck');
    expect(r.error!.message).toMatch(/not a full checkpoint: it lacks transformer, text_encoder, tokenizer/);
    const lat: ApiPrompt = {
      lat: {
        class_type: 'EmptyLatent',
        inputs: { width: 12, height: 8, batch_size: 1, channels: 3, downscale: 8 },
      },
      d: { class_type: 'VAEDecode', inputs: { samples: ['lat', 0], vae: ['v', 0] } },
      v: { class_type: 'LoadVAE', inputs: { vae_name: 'parts/vae.safetensors' } },
      p: { class_type: 'PreviewImage', inputs: { images: ['d', 0] } },
    };
    const r2 = await engine.execute(lat);
    expect(r2.error!.nodeId).toBe('lat');
    expect(r2.error!.message).toMatch(/input 'width'/);
  });
});

describe('node runs free what they make', () => {
  const ctx = (): Parameters<typeof SaveImage.run>[1] =>
    ({
      nodeId: '1',
      classType: 'x',
      promptId: 'p',
      signal: new AbortController().signal,
      log: silent,
      folders: engine.folders,
      extra: {},
      prompt: {},
      loop: { index: 0, total: 1, stop: () => {} },
      state: new Map(),
      progress: () => {},
      interruptionPoint: async () => {},
      send: () => {},
      ui: () => {},
    }) as never;

  test('LoadImage, VAEEncode, VAEDecode, SaveImage, PreviewImage leave only their outputs', async () => {
    const vae = new AutoencoderKL({
      block_out_channels: [2, 4],
      layers_per_block: 1,
      latent_channels: 3,
      norm_num_groups: 2,
    }).initialize(5);
    const once = async (): Promise<void> => {
      const { image, mask } = (await LoadImage.run({ image: 'shape.png' }, ctx())) as {
        image: tf.Tensor4D;
        mask: tf.Tensor;
      };
      const { latent } = (await VAEEncode.run({ pixels: image, vae, mode: 'sample', seed: 1 }, ctx())) as {
        latent: { samples: tf.Tensor4D };
      };
      const { image: dec } = (await VAEDecode.run({ samples: latent, vae }, ctx())) as { image: tf.Tensor4D };
      await SaveImage.run({ images: dec, filename_prefix: 'leak' }, ctx());
      await PreviewImage.run({ images: dec }, ctx());
      tf.dispose([image, mask, latent.samples, dec]);
    };
    await once();
    const n0 = tf.memory().numTensors;
    for (let i = 0; i < 2; i++) await once();
    expect(tf.memory().numTensors).toBe(n0);
    vae.dispose();
  });
});
