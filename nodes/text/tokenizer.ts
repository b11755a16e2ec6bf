/**
 * Tokenizers from Hugging Face tokenizer.json, with T5's conventions (spec §4): `<pad>`=0, `</s>`=1,
 * `<unk>`=2 by content, mask = `<extra_id_0>`; encode appends EOS; sequences are padded to M with EOS and
 * truncation keeps the EOS.
 *
 * Public interface:
 *   const tok = TextTokenizer.fromJson(jsonOrString)   // or TextTokenizer.fromFile(path)
 *   tok.encode(text, { eos = true }) → ids                (EOS appended)
 *   tok.encodePadded(text, M, { eos = true }) → ids of length M (truncated keeping EOS, padded with EOS)
 *   tok.fit(ids, M) → the same rule for ids made elsewhere
 *   tok.decode(ids, { skipSpecial = false, stopAtEos = false })
 *   tok.eosId, tok.padId (= EOS, the training pad), tok.padTokenId (`<pad>`), tok.unkId, tok.maskId, tok.vocabSize
 *   tok.json (the source text, stored in checkpoints)
 *
 * WordLevel models use our own loader (word-level.ts); Unigram (T5), BPE and WordPiece use @huggingface/tokenizers.
 */
import * as fs from 'fs';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { type HfAddedToken, joinWords, WordLevelModel } from './word-level';
import type { TokenizerLike } from '../sampling/interfaces';

export interface EncodeOptions {
  /** Append `</s>` (default true). */
  eos?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (`<pad>`, `</s>`, `<unk>` and added special tokens other than the mask). */
  skipSpecial?: boolean;
  /** Cut at the first `</s>`. */
  stopAtEos?: boolean;
}

interface Backend {
  encodeText(text: string): number[];
  decodeIds(ids: number[]): string;
  token(id: number): string | undefined;
  id(token: string): number | undefined;
  size: number;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** WordLevel backend: added tokens are matched in the raw text first, the rest goes through the model. */
function wordLevelBackend(json: Record<string, unknown>, added: HfAddedToken[]): Backend {
  const model = new WordLevelModel(json);
  const byContent = new Map(added.map((t) => [t.content, t.id]));
  const byId = new Map(added.map((t) => [t.id, t.content]));
  const splitter = added.length
    ? new RegExp(
        `(${added
          .map((t) => t.content)
          .sort((a, b) => b.length - a.length)
          .map(escapeRe)
          .join('|')})`,
        'u',
      )
    : null;
  return {
    encodeText(text) {
      const parts = splitter ? text.split(splitter) : [text];
      const out: number[] = [];
      parts.forEach((part, i) => {
        if (!part) return;
        const id = i % 2 === 1 ? byContent.get(part) : undefined;
        if (id !== undefined) out.push(id);
        else out.push(...model.encodeText(part));
      });
      return out;
    },
    decodeIds(ids) {
      return joinWords(ids.map((id) => byId.get(id) ?? model.token(id) ?? ''));
    },
    token: (id) => byId.get(id) ?? model.token(id),
    id: (t) => byContent.get(t) ?? model.id(t),
    size: Math.max(model.size, ...added.map((t) => t.id + 1)),
  };
}

function hfBackend(json: Record<string, unknown>): Backend {
  const tok = new HfTokenizer(json, {});
  const vocab = tok.get_vocab(true);
  let size = 0;
  for (const id of vocab.values()) size = Math.max(size, id + 1);
  return {
    encodeText: (text) => tok.encode(text, { add_special_tokens: false }).ids,
    decodeIds: (ids) => tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }),
    token: (id) => tok.id_to_token(id),
    id: (t) => tok.token_to_id(t),
    size,
  };
}

export class TextTokenizer implements TokenizerLike {
  readonly eosId: number;
  /** The pad used for training sequences: EOS (spec §4). */
  readonly padId: number;
  /** The `<pad>` token itself (id 0 in T5), never used for padding here. */
  readonly padTokenId: number | undefined;
  readonly unkId: number | undefined;
  readonly maskId: number;
  readonly vocabSize: number;
  private readonly specialIds: Set<number>;

  private constructor(
    readonly json: string,
    private readonly backend: Backend,
    added: HfAddedToken[],
    readonly kind: string,
  ) {
    const need = (content: string): number => {
      const id = backend.id(content);
      if (id === undefined) throw new Error(`tokenizer.json: the vocabulary has no '${content}' token`);
      return id;
    };
    this.eosId = need('</s>');
    this.padId = this.eosId;
    this.padTokenId = backend.id('<pad>');
    this.unkId = backend.id('<unk>');
    this.maskId = need('<extra_id_0>');
    this.vocabSize = backend.size;
    this.specialIds = new Set(added.filter((t) => t.special !== false).map((t) => t.id));
    for (const id of [this.padTokenId, this.unkId, this.eosId]) if (id !== undefined) this.specialIds.add(id);
    this.specialIds.delete(this.maskId);
  }

  static fromJson(source: string | Record<string, unknown>): TextTokenizer {
    const text = typeof source === 'string' ? source : JSON.stringify(source);
    let json: Record<string, unknown>;
    try {
      json = typeof source === 'string' ? (JSON.parse(source) as Record<string, unknown>) : source;
    } catch (e) {
      throw new Error(`tokenizer.json is not valid JSON: ${(e as Error).message}`);
    }
    const model = json.model as Record<string, unknown> | undefined;
    if (!model || typeof model !== 'object') throw new Error('tokenizer.json has no "model" section');
    const added = ((json.added_tokens as HfAddedToken[]) ?? []).map((t) => ({
      id: t.id,
      content: t.content,
      special: t.special,
    }));
    const kind = String(model.type ?? 'unknown');
    const backend = kind === 'WordLevel' ? wordLevelBackend(json, added) : hfBackend(json);
    return new TextTokenizer(text, backend, added, kind);
  }

  static fromFile(file: string): TextTokenizer {
    return TextTokenizer.fromJson(fs.readFileSync(file, 'utf8'));
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const ids = this.backend.encodeText(text);
    if (opts.eos ?? true) ids.push(this.eosId);
    return ids;
  }

  /** Exactly `length` ids: EOS-terminated (when `eos`), truncated keeping the EOS, padded with EOS. */
  encodePadded(text: string, length: number, opts: EncodeOptions = {}): number[] {
    return this.fit(this.encode(text, opts), length, opts.eos ?? true);
  }

  /** Truncates to `length` (the last kept id becomes EOS when the input ended with one) and pads with EOS. */
  fit(ids: number[], length: number, keepEos = ids[ids.length - 1] === this.eosId): number[] {
    if (!Number.isInteger(length) || length < 1)
      throw new Error(`sequence length must be a positive integer, got ${length}`);
    const out = ids.slice(0, length);
    if (ids.length > length && keepEos) out[length - 1] = this.eosId;
    while (out.length < length) out.push(this.padId);
    return out;
  }

  decode(ids: number[], opts: DecodeOptions = {}): string {
    let list = ids;
    if (opts.stopAtEos) {
      const k = list.indexOf(this.eosId);
      if (k >= 0) list = list.slice(0, k);
    }
    if (opts.skipSpecial) list = list.filter((id) => !this.specialIds.has(id));
    return this.backend.decodeIds(list);
  }

  tokenToId(token: string): number | undefined {
    return this.backend.id(token);
  }

  idToToken(id: number): string | undefined {
    return this.backend.token(id);
  }

  /** Token strings of ids (for showing a partly masked sequence). */
  tokens(ids: number[]): string[] {
    return ids.map((id) => this.backend.token(id) ?? `<${id}>`);
  }

  get byteSize(): number {
    return this.json.length * 2;
  }
}
