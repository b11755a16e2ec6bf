/**
 * Text templates for the masked sampler: which positions are fixed and which start as MASK.
 *
 * Template syntax (free-form in-filling):
 *   - plain text is fixed; it is tokenised piece by piece without its EOS, so markers also split words;
 *   - `[MASK]` or `<extra_id_0>` is one masked token, `[MASK*n]` is n masked tokens;
 *   - `[EOS]` ends the sequence: it and every later position are fixed to EOS;
 *   - without `[EOS]`, every position after the template, up to the length, starts masked
 *     (the answer slot, whose length the model chooses by writing EOS).
 * Example: "a [MASK] circle left of a [MASK*2] [EOS]".
 */
import type { TokenizerLike } from './interfaces';

export interface TextTemplate {
  ids: number[];
  fixed: boolean[];
  /** Index of the first position that starts masked (= length when none is). */
  firstMasked: number;
}

const MARKER = /\[MASK(?:\*(\d+))?\]|<extra_id_0>|\[EOS\]/g;

function withoutEos(ids: number[], tok: TokenizerLike): number[] {
  return ids.length > 0 && ids[ids.length - 1] === tok.eosId ? ids.slice(0, -1) : ids;
}

function finish(
  ids: number[],
  fixed: boolean[],
  length: number,
  who: string,
  tok: TokenizerLike,
): TextTemplate {
  if (ids.length > length) {
    throw new Error(`${who}: the template needs ${ids.length} tokens but the length is ${length}`);
  }
  while (ids.length < length) {
    ids.push(tok.maskId);
    fixed.push(false);
  }
  const first = fixed.indexOf(false);
  return { ids, fixed, firstMasked: first < 0 ? length : first };
}

/** Everything masked: free captioning. */
export function captionTemplate(length: number, tok: TokenizerLike): TextTemplate {
  return finish([], [], length, 'caption', tok);
}

/** Parses the in-fill syntax above into ids and a keep mask of exactly `length` entries. */
export function parseTemplate(
  template: string,
  length: number,
  tok: TokenizerLike,
  who = 'template',
): TextTemplate {
  const ids: number[] = [];
  const fixed: boolean[] = [];
  const pushText = (text: string): void => {
    const piece = text.trim();
    if (!piece) return;
    for (const id of withoutEos(tok.encode(piece), tok)) {
      ids.push(id);
      fixed.push(true);
    }
  };
  let last = 0;
  let ended = false;
  for (const m of template.matchAll(MARKER)) {
    pushText(template.slice(last, m.index));
    last = m.index! + m[0].length;
    if (m[0] === '[EOS]') {
      ended = true;
      break;
    }
    const count = m[1] === undefined ? 1 : Number(m[1]);
    if (!(count >= 1)) throw new Error(`${who}: '${m[0]}' must mask at least one token`);
    for (let i = 0; i < count; i++) {
      ids.push(tok.maskId);
      fixed.push(false);
    }
  }
  if (ended) {
    if (template.slice(last).trim()) throw new Error(`${who}: nothing may follow [EOS] in the template`);
    if (ids.length > length)
      throw new Error(`${who}: the template needs ${ids.length} tokens but the length is ${length}`);
    while (ids.length < length) {
      ids.push(tok.eosId);
      fixed.push(true);
    }
    return finish(ids, fixed, length, who, tok);
  }
  pushText(template.slice(last));
  return finish(ids, fixed, length, who, tok);
}

/** The VQA prompt of spec §3.3 (the SFT format); `{question}` is replaced. */
export const VQA_PROMPT = 'Q: {question} Answer the question using a single word or phrase. A: ';
/** The caption request in the same Q/A format, the Caption prompt the bundled model was trained with. */
export const CAPTION_PROMPT = 'Q: describe the image. A: ';
export const VIZWIZ_HINT = 'Reply unanswerable if information is not present in the image.';

export function vqaPromptText(question: string, format = VQA_PROMPT, vizwiz = false): string {
  let prompt = format.split('{question}').join(question.trim());
  if (vizwiz) {
    const at = prompt.lastIndexOf('A:');
    prompt = at < 0 ? `${prompt}${VIZWIZ_HINT} ` : `${prompt.slice(0, at)}${VIZWIZ_HINT} ${prompt.slice(at)}`;
  }
  return prompt;
}

/**
 * VQA in-filling (spec §3.3): the prompt's tokens without their trailing EOS are fixed, everything
 * after them up to `length` is the answer slot.
 */
export function vqaTemplate(
  prompt: string,
  length: number,
  tok: TokenizerLike,
  who = 'AnswerQuestion',
): TextTemplate {
  const ids = withoutEos(tok.encode(prompt), tok);
  return finish(
    [...ids],
    ids.map(() => true),
    length,
    who,
    tok,
  );
}

/** Cuts a token list at its first EOS (exclusive). */
export function cutAtEos(ids: ArrayLike<number>, eosId: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] === eosId) break;
    out.push(ids[i]);
  }
  return out;
}
