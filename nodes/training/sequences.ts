/**
 * Token sequences for training (spec §4): captions padded with EOS (truncation keeps the EOS), and
 * instruction sequences prompt-without-EOS ++ answer-with-EOS whose prompt part is protected.
 */
import type { TokenizerLike } from '../sampling/interfaces';

export interface TokenBatch {
  /** [B·M] ids. */
  ids: Int32Array;
  /** [B·M] 1 where a position may be masked (and is scored), 0 on a protected prompt. */
  condMask: Uint8Array;
  batch: number;
  length: number;
}

/**
 * Per sequence, how many scored positions carry its text: the scored positions up to and including the
 * first EOS among them (the caption or answer and its EOS, without the EOS padding after it). At least 1.
 */
export function contentLengths(b: TokenBatch, eosId: number): number[] {
  return Array.from({ length: b.batch }, (_, r) => {
    let n = 0;
    for (let l = 0; l < b.length; l++) {
      const i = r * b.length + l;
      if (!b.condMask[i]) continue;
      n++;
      if (b.ids[i] === eosId) break;
    }
    return Math.max(1, n);
  });
}

/** tok(text) padded to M with EOS; a longer sequence is cut to M − 1 tokens plus EOS. */
export function captionIds(tok: TokenizerLike, text: string, length: number): number[] {
  let ids = tok.encode(text);
  if (ids.length === 0 || ids[ids.length - 1] !== tok.eosId) ids = [...ids, tok.eosId];
  if (ids.length > length) ids = [...ids.slice(0, length - 1), tok.eosId];
  while (ids.length < length) ids.push(tok.eosId);
  return ids;
}

/** The SFT prompt format (spec §4, default non-"reverse" order). */
export const SFT_PROMPT = 'Q: {question} A: ';

/**
 * tok(prompt)[:-1] ++ tok(answer), truncated to M and padded with EOS; label/cond mask 0 on the
 * prompt and 1 on the answer, its EOS and the padding. The prompt is `format` with {question}
 * replaced, unless the item brings its own prompt text.
 */
export function instructionIds(
  tok: TokenizerLike,
  question: string,
  answer: string,
  length: number,
  format = SFT_PROMPT,
  promptText?: string,
): { ids: number[]; condMask: number[] } {
  let prompt = tok.encode(promptText ?? format.split('{question}').join(question));
  if (prompt.length && prompt[prompt.length - 1] === tok.eosId) prompt = prompt.slice(0, -1);
  const ans = tok.encode(answer);
  const ids = [...prompt, ...ans].slice(0, length);
  const condMask = ids.map((_, i) => (i < prompt.length ? 0 : 1));
  while (ids.length < length) {
    ids.push(tok.eosId);
    condMask.push(1);
  }
  return { ids, condMask };
}

export function captionBatch(tok: TokenizerLike, captions: string[], length: number): TokenBatch {
  const ids = new Int32Array(captions.length * length);
  captions.forEach((c, b) => ids.set(captionIds(tok, c, length), b * length));
  return { ids, condMask: new Uint8Array(ids.length).fill(1), batch: captions.length, length };
}

export function instructionBatch(
  tok: TokenizerLike,
  pairs: Array<{ question?: string; answer?: string; prompt?: string }>,
  length: number,
  format = SFT_PROMPT,
): TokenBatch {
  const ids = new Int32Array(pairs.length * length);
  const condMask = new Uint8Array(pairs.length * length);
  pairs.forEach((p, b) => {
    if (p.answer === undefined || (p.question === undefined && p.prompt === undefined)) {
      throw new Error('instruction data: every item needs a question (or prompt) and an answer');
    }
    const s = instructionIds(tok, p.question ?? '', p.answer, length, format, p.prompt);
    ids.set(s.ids, b * length);
    condMask.set(s.condMask, b * length);
  });
  return { ids, condMask, batch: pairs.length, length };
}
