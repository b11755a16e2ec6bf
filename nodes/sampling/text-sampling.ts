/**
 * Masked text sampling as the nodes run it: template → sampler → text, with a progress event and a
 * `ddit.text_state` message per step so the editor can show the answer appearing.
 */
import type { NodeContext } from '../../server/engine/types';
import { tf } from '../../server/runtime/tf';
import type { DualModel, TextEncoderLike, TokenizerLike } from './interfaces';
import { sampleMasked } from './masked-sampler';
import { Rng } from './random';
import { cutAtEos, type TextTemplate } from './templates';
import { textProbabilities } from './text-model';

/** TEXT_TOKENS socket value: the final tokens per batch item and the states of item 0 step by step. */
export interface TextTokens {
  tokens: number[][];
  fixed: boolean[];
  /** Item 0 after each step (index 0 = the start). */
  states: number[][];
  maskId: number;
  eosId: number;
  texts: string[];
}

export interface TextSampleResult {
  /** The generated part: from the first position that started masked, cut at the first EOS. */
  text: string;
  /** The whole sequence, cut at the first EOS. */
  fullText: string;
  tokens: TextTokens;
}

export interface TextSampleRequest {
  model: DualModel;
  encoder: TextEncoderLike;
  tokenizer: TokenizerLike;
  /** Clean image latent z₀ [B,h,w,C]; one sequence per batch item. */
  latent: tf.Tensor4D;
  template: TextTemplate;
  steps: number;
  seed: number;
  /** Token temperature of the sampler (1: the reference's ancestral draw, 0: greedy). */
  temperature?: number;
}

function pieceOf(tok: TokenizerLike, id: number, cache: Map<number, string>): string {
  let s = cache.get(id);
  if (s === undefined) {
    s = tok.decode([id]);
    cache.set(id, s);
  }
  return s;
}

/**
 * A `ddit.text_state` message: the row's tokens, which are masked and fixed, and their pieces (null where
 * masked), so the editor can draw the answer forming step by step.
 */
export function sendTextState(
  ctx: NodeContext,
  tok: TokenizerLike,
  template: TextTemplate,
  row: number[],
  step: number,
  steps: number,
  pieces = new Map<number, string>(),
): void {
  const masked = row.map((t) => t === tok.maskId);
  const shown = row.map((t, i) => (masked[i] ? null : pieceOf(tok, t, pieces)));
  ctx.send('ddit.text_state', {
    tokens: row,
    masked,
    fixed: template.fixed,
    pieces: shown,
    step,
    steps,
    text: shown.map((p) => p ?? '_').join(' '),
  });
}

/** The generated part of a sampled row: from the template's first masked position, cut at the first EOS. */
export function generatedText(tok: TokenizerLike, row: number[], template: TextTemplate): string {
  return tok.decode(cutAtEos(row.slice(template.firstMasked), tok.eosId)).trim();
}

/** Runs the sampler for every batch item; reports each step through ctx. */
export async function sampleText(req: TextSampleRequest, ctx: NodeContext): Promise<TextSampleResult> {
  const { tokenizer: tok, template } = req;
  const batch = req.latent.shape[0];
  const m = template.ids.length;
  const ids = new Int32Array(batch * m);
  const fixed: boolean[] = [];
  for (let b = 0; b < batch; b++) {
    ids.set(template.ids, b * m);
    fixed.push(...template.fixed);
  }
  const pieces = new Map<number, string>();
  const states: number[][] = [];
  const res = await sampleMasked({
    template: ids,
    fixed,
    maskId: tok.maskId,
    steps: req.steps,
    temperature: req.temperature,
    rng: new Rng(req.seed),
    probabilities: (x) => textProbabilities(req.model, req.encoder, req.latent, x, batch, m, tok.maskId),
    onStep: async ({ step, steps, tokens }) => {
      await ctx.interruptionPoint();
      const first = Array.from(tokens.subarray(0, m));
      states.push(first);
      sendTextState(ctx, tok, template, first, step, steps, pieces);
      if (step > 0) ctx.progress(step, steps);
    },
  });
  const all: number[][] = [];
  const texts: string[] = [];
  const fulls: string[] = [];
  for (let b = 0; b < batch; b++) {
    const row = Array.from(res.tokens.subarray(b * m, (b + 1) * m));
    all.push(row);
    texts.push(generatedText(tok, row, template));
    fulls.push(tok.decode(cutAtEos(row, tok.eosId)).trim());
  }
  return {
    text: texts.join('\n'),
    fullText: fulls.join('\n'),
    tokens: {
      tokens: all,
      fixed: template.fixed,
      states,
      maskId: tok.maskId,
      eosId: tok.eosId,
      texts,
    },
  };
}

export interface TextBatchRequest {
  model: DualModel;
  encoder: TextEncoderLike;
  tokenizer: TokenizerLike;
  /** Clean image latents z₀ [B,h,w,C]: one item per row. */
  latent: tf.Tensor4D;
  /** One template per item, all of the same length. */
  templates: readonly TextTemplate[];
  /** One seed per item. */
  seeds: readonly number[];
  steps: number;
  temperature?: number;
}

/**
 * Samples B independent items in one batch (evaluation): every item has its own template and its own seeded
 * generator, so each comes out as sampleText alone with that template and seed would give it (up to
 * floating-point differences of the batched forward). Returns the generated part of each item.
 */
export async function sampleTextBatch(
  req: TextBatchRequest,
  onStep?: (step: number, steps: number) => void,
): Promise<string[]> {
  const { tokenizer: tok, templates } = req;
  const batch = templates.length;
  if (batch === 0) return [];
  if (req.latent.shape[0] !== batch || req.seeds.length !== batch) {
    throw new Error(
      `sampleTextBatch: ${batch} templates, ${req.seeds.length} seeds and ${req.latent.shape[0]} latents`,
    );
  }
  const m = templates[0].ids.length;
  if (templates.some((t) => t.ids.length !== m))
    throw new Error('sampleTextBatch: every template must have the same length');
  const ids = new Int32Array(batch * m);
  const fixed: boolean[] = [];
  templates.forEach((t, b) => {
    ids.set(t.ids, b * m);
    fixed.push(...t.fixed);
  });
  const res = await sampleMasked({
    template: ids,
    fixed,
    maskId: tok.maskId,
    steps: req.steps,
    temperature: req.temperature,
    rng: req.seeds.map((s) => new Rng(s)),
    probabilities: (x) => textProbabilities(req.model, req.encoder, req.latent, x, batch, m, tok.maskId),
    onStep: onStep ? ({ step, steps }) => onStep(step, steps) : undefined,
  });
  return templates.map((t, b) => generatedText(tok, Array.from(res.tokens.subarray(b * m, (b + 1) * m)), t));
}

/**
 * TEXT_TOKENS for an answer that was read rather than sampled: the template with the answer's tokens in its
 * slot and EOS after them, the template itself as the start state.
 */
export function answeredTokens(template: TextTemplate, answer: string, tok: TokenizerLike): TextTokens {
  const words = tok.encode(answer).filter((id) => id !== tok.eosId);
  const row = template.ids.slice();
  let k = 0;
  for (let i = 0; i < row.length; i++) {
    if (template.fixed[i]) continue;
    row[i] = k < words.length ? words[k] : tok.eosId;
    k++;
  }
  return {
    tokens: [row],
    fixed: template.fixed,
    states: [template.ids.slice(), row],
    maskId: tok.maskId,
    eosId: tok.eosId,
    texts: [generatedText(tok, row, template)],
  };
}
