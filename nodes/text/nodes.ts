/** LoadTokenizer, LoadTextEncoder, Tokenize, TextEncode. */
import { defineNode } from '../../server/engine/define-node';
import type { Folders } from '../../server/engine/types';
import { tf } from '../../server/runtime/tf';
import { loadCheckpointTokenizer, loadTextEncoder } from '../ddit/checkpoint';
import { inferenceModel, INFERENCE_INPUT, loaderPreference, preferInference } from '../ddit/inference';
import { cachedLoad } from '../ddit/loader-cache';
import { defaultFolders, fingerprintInside, listFiles, resolveInside } from '../image/files';
import type { TextEncoderLike } from '../sampling/interfaces';
import { TextTokenizer } from './tokenizer';

/** TOKENS values: token ids [B][M] (EOS-terminated, EOS-padded). */
export interface Tokens {
  ids: number[][];
}

function expectTokenizer(v: unknown): TextTokenizer {
  if (!(v instanceof TextTokenizer)) throw new Error("input 'tokenizer': expected a TOKENIZER");
  return v;
}

function expectEncoder(v: unknown): TextEncoderLike {
  const enc = inferenceModel(v);
  if (!enc || typeof (enc as TextEncoderLike).encode !== 'function')
    throw new Error("input 'text_encoder': expected a TEXT_ENCODER");
  return enc as TextEncoderLike;
}

const isTokenizerFile = (name: string): boolean =>
  name.toLowerCase().endsWith('.safetensors') || (/tokenizer/i.test(name) && !/_config\.json$/i.test(name));

export const LoadTokenizer = defineNode({
  type: 'LoadTokenizer',
  displayName: 'Load Tokenizer',
  category: 'loaders',
  description:
    "Loads a Hugging Face tokenizer.json (WordLevel or T5's Unigram) from the models folder, or the tokenizer stored in a checkpoint. T5 conventions: EOS appended, padding with EOS.",
  inputs: {
    tokenizer_name: {
      type: 'COMBO',
      choices: (folders?: Folders) =>
        listFiles((folders ?? defaultFolders()).models, ['.json', '.safetensors'], 2, isTokenizerFile),
    },
  },
  outputs: { tokenizer: { type: 'TOKENIZER' } },
  fingerprint: ({ tokenizer_name }, folders) => fingerprintInside(folders.models, tokenizer_name),
  async run({ tokenizer_name }, ctx) {
    const file = resolveInside(ctx.folders.models, tokenizer_name, 'tokenizer file');
    const tokenizer = await cachedLoad(file, 'tokenizer', () =>
      file.toLowerCase().endsWith('.safetensors')
        ? loadCheckpointTokenizer(file)
        : TextTokenizer.fromFile(file),
    );
    return { tokenizer };
  },
});

export const LoadTextEncoder = defineNode({
  type: 'LoadTextEncoder',
  displayName: 'Load Text Encoder',
  category: 'loaders',
  description:
    "Loads a T5 encoder (Hugging Face T5EncoderModel names) from a safetensors file: a checkpoint's `text_encoder.` part, or a single model with its config in metadata or a config.json beside it.",
  inputs: {
    text_encoder_name: {
      type: 'COMBO',
      choices: (folders?: Folders) => listFiles((folders ?? defaultFolders()).models, ['.safetensors']),
    },
    inference: INFERENCE_INPUT,
  },
  outputs: { text_encoder: { type: 'TEXT_ENCODER' } },
  fingerprint: ({ text_encoder_name }, folders) => fingerprintInside(folders.models, text_encoder_name),
  async run({ text_encoder_name, inference }, ctx) {
    const file = resolveInside(ctx.folders.models, text_encoder_name, 'text encoder file');
    const text_encoder = await cachedLoad(file, 'text_encoder', () => loadTextEncoder(file));
    preferInference(text_encoder, loaderPreference(inference, file));
    return { text_encoder };
  },
});

export const Tokenize = defineNode({
  type: 'Tokenize',
  category: 'conditioning',
  description:
    'Text → token ids of exactly `length` positions: EOS appended (unless off), truncated keeping the EOS, padded with EOS (spec §4).',
  inputs: {
    tokenizer: { type: 'TOKENIZER' },
    text: { type: 'STRING', multiline: true, default: '' },
    length: { type: 'INT', default: 32, min: 1, max: 4096 },
    add_eos: { type: 'BOOLEAN', default: true },
  },
  outputs: { tokens: { type: 'TOKENS' } },
  run({ tokenizer, text, length, add_eos }) {
    const tok = expectTokenizer(tokenizer);
    const tokens: Tokens = { ids: [tok.encodePadded(text, length, { eos: add_eos })] };
    return { tokens };
  },
});

export const TextEncode = defineNode({
  type: 'TextEncode',
  displayName: 'Text Encode (T5)',
  category: 'conditioning',
  description:
    'Encodes a prompt (or given TOKENS) with the text encoder into CONDITIONING {embeds [B,M,d], ids, and the text when encoded from text}. No attention mask: padding (EOS) is encoded like any token, as in training.',
  inputs: {
    tokenizer: { type: 'TOKENIZER' },
    text_encoder: { type: 'TEXT_ENCODER' },
    text: { type: 'STRING', multiline: true, default: '' },
    length: { type: 'INT', default: 32, min: 1, max: 4096 },
    tokens: { type: 'TOKENS', optional: true },
  },
  outputs: { conditioning: { type: 'CONDITIONING' } },
  async run({ tokenizer, text_encoder, text, length, tokens }) {
    const tok = expectTokenizer(tokenizer);
    const enc = expectEncoder(text_encoder);
    let ids: number[][];
    let texts: string[] | undefined;
    if (tokens !== undefined && tokens !== null) {
      const t = tokens as Tokens;
      if (
        !Array.isArray(t.ids) ||
        t.ids.length === 0 ||
        !t.ids.every((r) => Array.isArray(r) && r.length === t.ids[0].length)
      ) {
        throw new Error("input 'tokens': expected TOKENS { ids: number[B][M] } with rows of equal length");
      }
      ids = t.ids.map((r) => r.slice());
    } else {
      ids = [tok.encodePadded(text, length)];
      texts = [text];
    }
    const idsT = tf.tensor2d(ids, undefined, 'int32');
    try {
      const embeds = await enc.encode(idsT);
      return { conditioning: texts ? { embeds, ids, text: texts } : { embeds, ids } };
    } finally {
      idsT.dispose();
    }
  },
});
