/**
 * The shapes world's word-level tokenizer as a Hugging Face tokenizer.json, with T5's conventions:
 * `<pad>`=0, `</s>`=1, `<unk>`=2, then the words, and the mask token `<extra_id_0>` last. A lower-casing
 * normaliser and the Whitespace pre-tokenizer (words and punctuation runs) feed a WordLevel model; the
 * post-processor appends `</s>` as T5's does; the WordPiece decoder with cleanup rejoins "circle ?" as
 * "circle?".
 */
import { generatorWords } from './vocabulary';

export const PAD_TOKEN = '<pad>';
export const EOS_TOKEN = '</s>';
export const UNK_TOKEN = '<unk>';
export const MASK_TOKEN = '<extra_id_0>';

interface AddedToken {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

const added = (id: number, content: string): AddedToken => ({
  id,
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
  special: true,
});

export interface TokenizerJson {
  version: string;
  added_tokens: AddedToken[];
  model: { type: 'WordLevel'; vocab: Record<string, number>; unk_token: string };
  [key: string]: unknown;
}

export function buildTokenizerJson(words: string[] = generatorWords()): TokenizerJson {
  const vocab: Record<string, number> = { [PAD_TOKEN]: 0, [EOS_TOKEN]: 1, [UNK_TOKEN]: 2 };
  let next = 3;
  for (const w of words) {
    if (Object.hasOwn(vocab, w)) throw new Error(`buildTokenizerJson: duplicate word ${JSON.stringify(w)}`);
    vocab[w] = next++;
  }
  const maskId = next;
  vocab[MASK_TOKEN] = maskId;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [added(0, PAD_TOKEN), added(1, EOS_TOKEN), added(2, UNK_TOKEN), added(maskId, MASK_TOKEN)],
    normalizer: { type: 'Lowercase' },
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: EOS_TOKEN, type_id: 0 } }],
      pair: [
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: EOS_TOKEN, type_id: 0 } },
        { Sequence: { id: 'B', type_id: 0 } },
        { SpecialToken: { id: EOS_TOKEN, type_id: 0 } },
      ],
      special_tokens: { [EOS_TOKEN]: { id: EOS_TOKEN, ids: [1], tokens: [EOS_TOKEN] } },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordLevel', vocab, unk_token: UNK_TOKEN },
  };
}

/** The companion tokenizer_config.json that transformers and tokenizers.js read beside tokenizer.json. */
export function buildTokenizerConfig(): Record<string, unknown> {
  return {
    tokenizer_class: 'PreTrainedTokenizerFast',
    pad_token: PAD_TOKEN,
    eos_token: EOS_TOKEN,
    unk_token: UNK_TOKEN,
    mask_token: MASK_TOKEN,
    additional_special_tokens: [MASK_TOKEN],
    model_max_length: 64,
  };
}
