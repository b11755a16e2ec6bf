/**
 * A WordLevel tokenizer model for Hugging Face tokenizer.json files (the @huggingface/tokenizers package
 * maps unknown words of this model to undefined instead of <unk>). Supports the normalizers and
 * pre-tokenizers such vocabularies use: Lowercase, Strip, StripAccents, NFC/NFD/NFKC/NFKD, Replace, Sequence;
 * Whitespace, WhitespaceSplit, Punctuation, Split (Isolated/Removed), Digits, Sequence.
 */

export interface HfAddedToken {
  id: number;
  content: string;
  special?: boolean;
}

type Json = Record<string, unknown>;

function patternOf(p: unknown, flags: string): RegExp {
  const o = p as { String?: string; Regex?: string };
  if (typeof o?.String === 'string')
    return new RegExp(o.String.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), flags);
  if (typeof o?.Regex === 'string') return new RegExp(o.Regex, flags);
  throw new Error(`tokenizer.json: unsupported pattern ${JSON.stringify(p)}`);
}

export function makeNormalizer(cfg: Json | null | undefined): (s: string) => string {
  if (!cfg) return (s) => s;
  const type = cfg.type as string;
  switch (type) {
    case 'Lowercase':
      return (s) => s.toLowerCase();
    case 'Strip': {
      const left = cfg.strip_left !== false;
      const right = cfg.strip_right !== false;
      return (s) => (left && right ? s.trim() : left ? s.trimStart() : right ? s.trimEnd() : s);
    }
    case 'StripAccents':
      return (s) => s.normalize('NFD').replace(/\p{M}/gu, '');
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD':
      return (s) => s.normalize(type);
    case 'Replace': {
      const re = patternOf(cfg.pattern, 'gu');
      const content = String(cfg.content ?? '');
      return (s) => s.replace(re, content);
    }
    case 'Sequence': {
      const parts = ((cfg.normalizers as Json[]) ?? []).map(makeNormalizer);
      return (s) => parts.reduce((acc, f) => f(acc), s);
    }
    default:
      throw new Error(`tokenizer.json: normalizer '${type}' is not supported with a WordLevel model`);
  }
}

const WORD = /[\p{L}\p{M}\p{N}\p{Pc}]+|[^\p{L}\p{M}\p{N}\p{Pc}\s]+/gu;

function isPunct(ch: string): boolean {
  const c = ch.codePointAt(0)!;
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126))
    return true;
  return /\p{P}/u.test(ch);
}

/** Splits keeping matches as their own pieces (Isolated) or dropping them (Removed). */
function splitBy(s: string, re: RegExp, keep: boolean): string[] {
  const out: string[] = [];
  let last = 0;
  for (const m of s.matchAll(re)) {
    if (m.index! > last) out.push(s.slice(last, m.index));
    if (keep && m[0].length) out.push(m[0]);
    last = m.index! + m[0].length;
  }
  if (last < s.length) out.push(s.slice(last));
  return out;
}

export function makePreTokenizer(cfg: Json | null | undefined): (s: string) => string[] {
  if (!cfg) return (s) => (s.length ? [s] : []);
  const type = cfg.type as string;
  switch (type) {
    case 'Whitespace':
      return (s) => s.match(WORD) ?? [];
    case 'WhitespaceSplit':
      return (s) => s.split(/\s+/u).filter((x) => x.length > 0);
    case 'Punctuation':
      return (s) => {
        const out: string[] = [];
        let cur = '';
        for (const ch of s) {
          if (isPunct(ch)) {
            if (cur) out.push(cur);
            out.push(ch);
            cur = '';
          } else cur += ch;
        }
        if (cur) out.push(cur);
        return out;
      };
    case 'Digits':
      return (s) => (cfg.individual_digits ? splitBy(s, /\p{N}/gu, true) : splitBy(s, /\p{N}+/gu, true));
    case 'Split': {
      const behavior = String(cfg.behavior ?? 'Isolated');
      if (cfg.invert)
        throw new Error('tokenizer.json: Split with invert is not supported with a WordLevel model');
      if (behavior !== 'Isolated' && behavior !== 'Removed') {
        throw new Error(
          `tokenizer.json: Split behavior '${behavior}' is not supported with a WordLevel model`,
        );
      }
      const re = patternOf(cfg.pattern, 'gu');
      return (s) => splitBy(s, re, behavior === 'Isolated').filter((x) => x.length > 0);
    }
    case 'Sequence': {
      const parts = ((cfg.pretokenizers as Json[]) ?? []).map(makePreTokenizer);
      return (s) => parts.reduce<string[]>((pieces, f) => pieces.flatMap(f), [s]);
    }
    default:
      throw new Error(`tokenizer.json: pre-tokenizer '${type}' is not supported with a WordLevel model`);
  }
}

/** WordLevel encode/decode over pieces that are not added tokens. */
export class WordLevelModel {
  private readonly vocab: Map<string, number>;
  private readonly inverse: Map<number, string>;
  private readonly unkId: number;
  private readonly normalize: (s: string) => string;
  private readonly preTokenize: (s: string) => string[];

  constructor(json: Json) {
    const model = json.model as Json;
    this.vocab = new Map(Object.entries(model.vocab as Record<string, number>));
    this.inverse = new Map([...this.vocab].map(([k, v]) => [v, k]));
    const unk = String(model.unk_token ?? '<unk>');
    const unkId = this.vocab.get(unk);
    if (unkId === undefined)
      throw new Error(`tokenizer.json: WordLevel unk_token '${unk}' is not in the vocabulary`);
    this.unkId = unkId;
    this.normalize = makeNormalizer(json.normalizer as Json | null);
    this.preTokenize = makePreTokenizer(json.pre_tokenizer as Json | null);
  }

  encodeText(text: string): number[] {
    return this.preTokenize(this.normalize(text)).map((w) => this.vocab.get(w) ?? this.unkId);
  }

  token(id: number): string | undefined {
    return this.inverse.get(id);
  }

  id(token: string): number | undefined {
    return this.vocab.get(token);
  }

  get size(): number {
    return this.vocab.size === 0 ? 0 : Math.max(...this.vocab.values()) + 1;
  }
}

/** Joins word tokens with spaces and removes the space before closing punctuation (HF's clean-up). */
export function joinWords(tokens: string[]): string {
  return tokens
    .join(' ')
    .replace(/ ([.,!?;:])/g, '$1')
    .replace(/ ' /g, "'")
    .replace(/ n't/g, "n't")
    .replace(/ '(s|m|re|ve|d|ll)\b/g, "'$1");
}
