/**
 * InitCheckpoint through the real engine: a new checkpoint sized from its configs around a given VAE and
 * tokenizer, kept when it exists, and errors that name the input.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Engine, loadBuiltinPacks, NodeRegistry, type ApiPrompt } from '../../../server/engine';
import { initRuntime, tf } from '../../../server/runtime';
import { loadCheckpoint, loadVae, saveCheckpoint } from '../../../nodes/ddit/checkpoint';
import { TextTokenizer } from '../../../nodes/text/tokenizer';
import { tinyVae, TOKENIZER_FILE } from '../../helpers/tiny-ddit';

const silent = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };
let root: string;
let engine: Engine;
let vaeFile: string;
const tokFile = TOKENIZER_FILE;

const TRANSFORMER = {
  sample_size: 4,
  patch_size: 1,
  in_channels: 3,
  num_layers: 1,
  num_attention_heads: 2,
  attention_head_dim: 4,
  joint_attention_dim: 6,
  pos_embed_max_size: 4,
  text_pooling: 'mean',
};
const ENCODER = {
  d_model: 6,
  d_kv: 2,
  d_ff: 8,
  num_layers: 1,
  num_heads: 2,
  absolute_position_embeddings: 8,
};

beforeAll(async () => {
  await initRuntime({ backend: 'cpu' });
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-init-'));
  const folders = { models: root, input: root, output: root, temp: root };
  const vae = tinyVae(2);
  vaeFile = path.join(root, 'vae.safetensors');
  await saveCheckpoint(vaeFile, { vae });
  vae.dispose();
  const registry = new NodeRegistry();
  loadBuiltinPacks(registry);
  engine = new Engine({ registry, folders, log: silent });
});

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function init(inputs: Record<string, unknown>): ApiPrompt {
  return {
    '1': {
      class_type: 'InitCheckpoint',
      inputs: {
        vae_file: vaeFile,
        tokenizer_file: tokFile,
        transformer_config: JSON.stringify(TRANSFORMER),
        text_encoder_config: JSON.stringify(ENCODER),
        output_file: path.join(root, 'new.safetensors'),
        seed: 3,
        overwrite: false,
        ...inputs,
      },
    },
  };
}

describe('InitCheckpoint', () => {
  test('writes a full checkpoint sized by its configs, with the vocabulary and mask id of the tokenizer', async () => {
    const r = await engine.execute(init({}));
    expect(r.status).toBe('success');
    const file = path.join(root, 'new.safetensors');
    const ck = loadCheckpoint(file);
    const tok = TextTokenizer.fromFile(tokFile);
    expect(ck.transformer.config).toMatchObject({
      vocab_size: tok.vocabSize,
      mask_token_id: tok.maskId,
      text_pooling: 'mean',
      width: 8,
    });
    expect(ck.textEncoder.config).toMatchObject({
      vocab_size: tok.vocabSize,
      absolute_position_embeddings: 8,
    });
    expect(ck.tokenizer.vocabSize).toBe(tok.vocabSize);
    // the VAE is the given one, weight for weight
    const written = ck.vae.state();
    const given = loadVae(vaeFile).state();
    for (const [name, t] of given)
      expect(Array.from(written.get(name)!.dataSync())).toEqual(Array.from(t.dataSync()));
    // DiT convention: the modulation and the image head start at zero, so the first velocity is 0
    const v = ck.transformer.forward(
      tf.randomNormal([1, 4, 4, 3]) as tf.Tensor4D,
      500,
      tf.randomNormal([1, 3, 6]) as tf.Tensor3D,
      {
        text: false,
      },
    ).velocity!;
    expect(tf.max(tf.abs(v)).dataSync()[0]).toBe(0);
  });

  test('keeps an existing file unless overwrite is on', async () => {
    const file = path.join(root, 'new.safetensors');
    const before = fs.readFileSync(file);
    const kept = await engine.execute(init({ seed: 9 }));
    expect(kept.status).toBe('success');
    expect(kept.outputs['1']).toEqual({ text: [`${file} exists; kept`] });
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    const replaced = await engine.execute(init({ seed: 9, overwrite: true }));
    expect(replaced.status).toBe('success');
    expect(fs.readFileSync(file).equals(before)).toBe(false);
  });

  test.each([
    [{ vae_file: path.join(os.tmpdir(), 'no-such-vae.safetensors') }, /input 'vae_file': .* does not exist/],
    [{ transformer_config: '{"num_layers": ' }, /input 'transformer_config': not valid JSON/],
    [
      { transformer_config: JSON.stringify({ ...TRANSFORMER, text_pooling: 'max' }) },
      /input 'transformer_config': D-DiT config: 'text_pooling' must be one of none, mean/,
    ],
  ])('bad input %# fails the node with a message naming it', async (inputs, message) => {
    const r = await engine.execute(init({ ...inputs, output_file: path.join(root, 'bad.safetensors') }));
    expect(r.status).toBe('error');
    expect(r.error?.message).toMatch(message);
    expect(r.error).toMatchObject({ nodeId: '1', classType: 'InitCheckpoint' });
    expect(fs.existsSync(path.join(root, 'bad.safetensors'))).toBe(false);
  });
});
