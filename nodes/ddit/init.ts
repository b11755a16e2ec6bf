/**
 * Assembling a new, untrained checkpoint: a freshly initialised D-DiT and T5 encoder sized from their
 * configs, a (trained) VAE and a tokenizer, in the one-file format LoadCheckpoint reads. Training
 * workflows start from it; the vocabulary size and mask id always follow the tokenizer.
 */
import * as fs from 'fs';
import * as path from 'path';
import { defineNode } from '../../server/engine/define-node';
import { initRuntime } from '../../server/runtime';
import { DDiT, type DDiTConfig } from './model';
import { T5Encoder, type T5Config } from '../text/t5';
import { TextTokenizer } from '../text/tokenizer';
import { loadVae, saveCheckpoint } from './checkpoint';

export const SHAPES_TRANSFORMER_CONFIG: Omit<DDiTConfig, 'vocab_size'> = {
  sample_size: 8,
  patch_size: 1,
  in_channels: 4,
  num_layers: 4,
  num_attention_heads: 2,
  attention_head_dim: 64,
  joint_attention_dim: 128,
  pos_embed_max_size: 8,
  null_image_tokens: 0,
  // not in D-DiT: trained from scratch, the image stream ignored the prompt for 5k+ steps with attention
  // alone (its x₀ guess at σ = 1 was the same for every prompt); see models/README.md
  text_pooling: 'mean',
};

export const SHAPES_TEXT_ENCODER_CONFIG: Omit<T5Config, 'vocab_size'> = {
  d_model: 128,
  d_kv: 64,
  d_ff: 256,
  num_layers: 2,
  num_heads: 2,
  relative_attention_num_buckets: 16,
  relative_attention_max_distance: 32,
  feed_forward_proj: 'gated-gelu',
  // Learned positions besides T5's relative bias: without them the mask tokens after a prompt were
  // indistinguishable and the text head predicted padding at every answer slot (2.4k steps, VQA 0.02).
  absolute_position_embeddings: 64,
};

function parseConfig<T>(text: string, input: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`input '${input}': not valid JSON (${(e as Error).message})`);
  }
}

/** A model built from one config input; a config the model rejects is reported against that input. */
function build<T>(input: string, make: () => T): T {
  try {
    return make();
  } catch (e) {
    throw new Error(`input '${input}': ${(e as Error).message}`);
  }
}

export const InitCheckpoint = defineNode({
  type: 'InitCheckpoint',
  displayName: 'New Checkpoint',
  category: 'training',
  description:
    'Writes a new checkpoint with a freshly initialised D-DiT and T5 encoder (seeded; DiT convention: ' +
    'zero-initialised modulation and image head) plus the given VAE and tokenizer. Does nothing when the ' +
    'file exists unless overwrite is on, so a training workflow can start with it and still resume.',
  output: true,
  inputs: {
    vae_file: { type: 'STRING', default: 'models/vae-shapes.safetensors' },
    tokenizer_file: { type: 'STRING', default: 'models/tokenizer.json' },
    transformer_config: {
      type: 'STRING',
      multiline: true,
      default: JSON.stringify(SHAPES_TRANSFORMER_CONFIG),
    },
    text_encoder_config: {
      type: 'STRING',
      multiline: true,
      default: JSON.stringify(SHAPES_TEXT_ENCODER_CONFIG),
    },
    output_file: { type: 'STRING', default: 'models/ddit-shapes-init.safetensors' },
    seed: { type: 'INT', default: 0, min: 0, max: 2 ** 31 - 1 },
    overwrite: { type: 'BOOLEAN', default: false },
  },
  outputs: { file: { type: 'STRING' } },
  async run(inp, ctx) {
    const out = path.resolve(inp.output_file);
    if (fs.existsSync(out) && !inp.overwrite) {
      ctx.ui({ text: [`${out} exists; kept`] });
      return { file: out };
    }
    await initRuntime();
    for (const [input, file] of [
      ['vae_file', inp.vae_file],
      ['tokenizer_file', inp.tokenizer_file],
    ] as const) {
      if (!fs.existsSync(file)) throw new Error(`input '${input}': ${file} does not exist`);
    }
    const tokenizer = TextTokenizer.fromFile(inp.tokenizer_file);
    const vocab = tokenizer.vocabSize;
    const ditConfig = parseConfig<DDiTConfig>(inp.transformer_config, 'transformer_config');
    const encConfig = parseConfig<T5Config>(inp.text_encoder_config, 'text_encoder_config');
    const dit = build('transformer_config', () =>
      new DDiT({ ...ditConfig, vocab_size: vocab, mask_token_id: tokenizer.maskId }).initialize(inp.seed),
    );
    const enc = build('text_encoder_config', () =>
      new T5Encoder({ ...encConfig, vocab_size: vocab }).initialize(inp.seed + 1),
    );
    const vae = loadVae(inp.vae_file);
    try {
      await saveCheckpoint(out, { transformer: dit, vae, textEncoder: enc, tokenizer });
    } finally {
      dit.dispose();
      enc.dispose();
      vae.dispose();
    }
    ctx.ui({ text: [`new checkpoint → ${out}`] });
    return { file: out };
  },
});
