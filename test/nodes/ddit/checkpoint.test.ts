import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { saveSafetensors, tf } from '../../../server/runtime';
import { torchShape } from '../../../server/runtime/nn';
import {
  inspectCheckpoint,
  loadCheckpoint,
  loadTextEncoder,
  loadTransformer,
  loadVae,
  saveCheckpoint,
} from '../../../nodes/ddit/checkpoint';
import { cachedLoad, clearLoaderCache } from '../../../nodes/ddit/loader-cache';
import { DDiT, type DDiTConfig } from '../../../nodes/ddit/model';
import { T5Encoder, type T5Config } from '../../../nodes/text/t5';
import { TextTokenizer } from '../../../nodes/text/tokenizer';
import { AutoencoderKL, type VaeConfig } from '../../../nodes/vae/model';
import { maxAbsDiff, randn, useBackend } from '../../helpers/gradcheck';
import { wordLevelJson } from '../text/fixtures';
import { referenceForward } from './reference';

const DIT: DDiTConfig = {
  sample_size: 4,
  patch_size: 2,
  in_channels: 3,
  num_layers: 1,
  num_attention_heads: 2,
  attention_head_dim: 4,
  joint_attention_dim: 6,
  pos_embed_max_size: 4,
  vocab_size: 18,
};
const VAE: VaeConfig = {
  block_out_channels: [2, 4],
  layers_per_block: 1,
  latent_channels: 3,
  norm_num_groups: 2,
  scaling_factor: 1.3,
  shift_factor: 0.2,
};
const T5: T5Config = {
  vocab_size: 18,
  d_model: 6,
  d_kv: 2,
  d_ff: 8,
  num_layers: 1,
  num_heads: 2,
  feed_forward_proj: 'gated-gelu',
};

let dir: string;

beforeAll(async () => {
  await useBackend('wasm');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-ckpt-'));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Random values everywhere (no zero-init), so outputs exercise every parameter. */
function randomize<M extends DDiT | AutoencoderKL | T5Encoder>(m: M, seed: number): M {
  const st = new Map<string, tf.Tensor>();
  m.namedParameters().forEach(([n, p], i) =>
    st.set(n, randn(torchShape(p.shape, p.layout), seed * 1000 + i, 0.3)),
  );
  m.loadState(st, { strict: false });
  st.forEach((t) => t.dispose());
  return m;
}

function outputs(dit: DDiT, vae: AutoencoderKL, t5: T5Encoder): tf.Tensor[] {
  const ids = tf.tensor2d([[3, 4, 5, 1]], undefined, 'int32');
  const enc = t5.encode(ids);
  const z = randn([1, 4, 4, 3], 1) as tf.Tensor4D;
  const o = dit.forward(z, 321, enc);
  const img = vae.decode(z);
  const lat = vae.encode(img, { seed: 3 });
  return [enc, o.velocity, o.logits, img, lat];
}

describe('checkpoint files', () => {
  test('save → load gives identical outputs for every part (F32); F16 storage stays close', async () => {
    const dit = randomize(new DDiT(DIT), 1);
    const vae = randomize(new AutoencoderKL(VAE), 2);
    const t5 = randomize(new T5Encoder(T5), 3);
    const tok = TextTokenizer.fromJson(wordLevelJson());
    const file = path.join(dir, 'full.safetensors');
    await saveCheckpoint(
      file,
      { transformer: dit, vae, textEncoder: t5, tokenizer: tok },
      { metadata: { step: '12' } },
    );
    const info = inspectCheckpoint(file);
    expect(info.parts.sort()).toEqual(['text_encoder', 'transformer', 'vae']);
    expect(info.hasTokenizer).toBe(true);
    expect(info.metadata.step).toBe('12');
    expect(info.metadata.format).toBe('ddit-studio/checkpoint');
    const ck = loadCheckpoint(file);
    expect(ck.tokenizer.encode('a red circle')).toEqual(tok.encode('a red circle'));
    expect(ck.transformer.config).toEqual(dit.config);
    expect(ck.vae.config).toEqual(vae.config);
    expect(ck.textEncoder.config).toEqual(t5.config);
    const a = outputs(dit, vae, t5);
    const b = outputs(ck.transformer, ck.vae, ck.textEncoder);
    a.forEach((t, i) => expect(maxAbsDiff(t, b[i])).toBe(0));
    const half = path.join(dir, 'half.safetensors');
    await saveCheckpoint(half, { transformer: dit }, { dtype: 'F16' });
    const h = loadTransformer(half);
    const z = randn([1, 4, 4, 3], 5) as tf.Tensor4D;
    const enc = randn([1, 2, 6], 6) as tf.Tensor3D;
    expect(maxAbsDiff(h.forward(z, 10, enc).logits, dit.forward(z, 10, enc).logits)).toBeLessThan(5e-2);
    expect(() => loadCheckpoint(half)).toThrow(/lacks vae, text_encoder, tokenizer/);
    [dit, vae, t5, ck.transformer, ck.vae, ck.textEncoder, h].forEach((m) => m.dispose());
  });

  test('a single-model file in the reference layout (no prefix, PyTorch orientation, config.json beside it) loads by name', async () => {
    const sub = path.join(dir, 'reference-dit');
    fs.mkdirSync(sub);
    const shapes = new DDiT(DIT).namedParameters();
    const st: Record<string, tf.Tensor> = {};
    shapes.forEach(([n, p], i) => (st[n] = randn(torchShape(p.shape, p.layout), 500 + i, 0.3)));
    await saveSafetensors(path.join(sub, 'diffusion_pytorch_model.safetensors'), st);
    fs.writeFileSync(
      path.join(sub, 'config.json'),
      JSON.stringify({ _class_name: 'SD3Transformer2DModel', ...DIT }),
    );
    const dit = loadTransformer(path.join(sub, 'diffusion_pytorch_model.safetensors'));
    const z = randn([1, 4, 4, 3], 7) as tf.Tensor4D;
    const enc = randn([1, 3, 6], 8) as tf.Tensor3D;
    const ref = referenceForward(
      new Map(Object.entries(st)),
      { p: 2, C: 3, D: 8, H: 2, G: 4, S: 4, layers: 1 },
      z,
      [250],
      enc,
    );
    const out = dit.forward(z, [250], enc);
    expect(maxAbsDiff(out.velocity, ref.velocity)).toBeLessThan(2e-4);
    expect(maxAbsDiff(out.logits, ref.logits)).toBeLessThan(2e-4);
    dit.dispose();
  });

  test('HF T5 and diffusers VAE files: config in metadata, tied embedding name, wrong shapes named', async () => {
    const t5 = randomize(new T5Encoder(T5), 9);
    const st = t5.state();
    const rec: Record<string, tf.Tensor> = {};
    st.forEach((v, k) => (rec[k === 'shared.weight' ? 'encoder.embed_tokens.weight' : k] = v));
    const file = path.join(dir, 't5.safetensors');
    await saveSafetensors(file, rec, { metadata: { config: JSON.stringify(T5) } });
    const back = loadTextEncoder(file);
    const ids = tf.tensor2d([[1, 2, 3]], undefined, 'int32');
    expect(maxAbsDiff(back.encode(ids), t5.encode(ids))).toBe(0);
    rec['encoder.final_layer_norm.weight'] = tf.zeros([5]);
    const bad = path.join(dir, 't5-bad.safetensors');
    await saveSafetensors(bad, rec, { metadata: { config: JSON.stringify(T5) } });
    expect(() => loadTextEncoder(bad)).toThrow(/t5-bad\.safetensors.*final_layer_norm.*\[5\]/);
    const noCfg = path.join(dir, 'sub-nocfg');
    fs.mkdirSync(noCfg);
    const vae = randomize(new AutoencoderKL(VAE), 10);
    const vs = vae.state();
    await saveSafetensors(path.join(noCfg, 'vae.safetensors'), Object.fromEntries(vs));
    expect(() => loadVae(path.join(noCfg, 'vae.safetensors'))).toThrow(/no vae config/);
    fs.writeFileSync(path.join(noCfg, 'config.json'), JSON.stringify(VAE));
    const v2 = loadVae(path.join(noCfg, 'vae.safetensors'));
    const z = randn([1, 2, 2, 3], 11) as tf.Tensor4D;
    expect(maxAbsDiff(v2.decode(z), vae.decode(z))).toBe(0);
    st.forEach((t) => t.dispose());
    vs.forEach((t) => t.dispose());
    [t5, back, vae, v2].forEach((m) => m.dispose());
  });

  test('loader cache: one copy per unchanged file, reloaded after a rewrite or a dispose', async () => {
    clearLoaderCache();
    const dit = randomize(new DDiT(DIT), 12);
    const file = path.join(dir, 'cache.safetensors');
    await saveCheckpoint(file, { transformer: dit });
    const a = await cachedLoad(file, 'transformer', () => loadTransformer(file));
    const b = await cachedLoad(file, 'transformer', () => loadTransformer(file));
    expect(b).toBe(a);
    a.dispose();
    const c = await cachedLoad(file, 'transformer', () => loadTransformer(file));
    expect(c).not.toBe(a);
    await new Promise((r) => setTimeout(r, 20));
    await saveCheckpoint(file, { transformer: dit }, { metadata: { v: '2' } });
    const d = await cachedLoad(file, 'transformer', () => loadTransformer(file));
    expect(d).not.toBe(c);
    [dit, c, d].forEach((m) => m.dispose());
  });
});
