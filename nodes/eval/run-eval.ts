/**
 * Runs an eval set against any model given as functions (prompt → image, image → caption,
 * image + question → answer) and scores it: t2i per GenEval-style category, captions by exact scene and
 * per attribute, VQA overall and per question form. The CLI and the model wiring sit on top of this.
 */
import { deriveSeed } from '../../server/runtime/nn/random';
import { fullCaption } from '../data/shapes/captions';
import { QUESTION_KINDS, questionKind, type QuestionKind } from '../data/shapes/questions';
import { renderScene, type RgbImage } from '../data/shapes/render';
import type { Scene } from '../data/shapes/world';
import { T2I_CATEGORIES, type EvalSet, type T2ICategory } from './eval-set';
import { judgeImage, type FoundObject, type JudgeOptions } from './judge';
import { CAPTION_ATTRIBUTES, scoreCaption, type CaptionAttribute } from './score-caption';
import { failureOf, scoreT2I, type T2IFailure } from './score-t2i';
import { scoreVqa } from './score-vqa';

export const EVAL_SECTIONS = ['t2i', 'caption', 'vqa'] as const;
export type EvalSection = (typeof EVAL_SECTIONS)[number];

/** Per item: its id and a seed for the model's samplers (different items, different noise). */
export interface ItemContext {
  id: string;
  seed: number;
}

type MaybePromise<T> = T | Promise<T>;

export interface EvalModel {
  name?: string;
  textToImage?(prompt: string, ctx: ItemContext): MaybePromise<RgbImage>;
  caption?(image: RgbImage, ctx: ItemContext): MaybePromise<string>;
  answer?(image: RgbImage, question: string, ctx: ItemContext): MaybePromise<string>;
  /**
   * Batched forms (up to options.batchSize items per call, results in order), used instead of the
   * single-item ones when present: a model that samples several items per forward pass gives them.
   */
  textToImageBatch?(prompts: string[], ctx: ItemContext[]): MaybePromise<RgbImage[]>;
  captionBatch?(images: RgbImage[], ctx: ItemContext[]): MaybePromise<string[]>;
  answerBatch?(items: { image: RgbImage; question: string }[], ctx: ItemContext[]): MaybePromise<string[]>;
}

export interface EvalOptions {
  /** Base seed from which each item's seed is derived (default 0). */
  seed?: number;
  /** Resolution at which caption and VQA scenes are rendered for the model (default 32). */
  resolution?: number;
  judge?: JudgeOptions;
  /** Sections to run (default: every section the model has a function for). */
  sections?: readonly EvalSection[];
  /** Items per call of the model's batched functions (default 8; the single-item ones get one at a time). */
  batchSize?: number;
  /** Called after each item (progress bars, logs). */
  onItem?(result: ItemResult, done: number, total: number): void;
  /** Called with each text-to-image sample once it is judged (saving images). */
  onImage?(result: T2IItemResult, image: RgbImage): void;
  signal?: AbortSignal;
}

/** The judge's view of an object, rounded for the report. */
export interface FoundSummary {
  shape: string;
  color: string;
  size: string;
  x: number;
  y: number;
}

export interface T2IItemResult {
  section: 't2i';
  id: string;
  category: T2ICategory;
  prompt: string;
  pass: boolean;
  /** pass with no objects beyond what the prompt names (score-t2i.ts). */
  strict: boolean;
  objects: boolean;
  count?: boolean;
  relation?: boolean;
  /** Why a failed sample failed (score-t2i.ts failureOf); absent when it passed. */
  failure?: T2IFailure;
  found: FoundSummary[];
}
export interface CaptionItemResult {
  section: 'caption';
  id: string;
  caption: string;
  reference: string;
  exact: boolean;
  attributes: Partial<Record<CaptionAttribute, number>>;
}
export interface VqaItemResult {
  section: 'vqa';
  id: string;
  kind: QuestionKind | 'other';
  question: string;
  answer: string;
  expected: string;
  correct: boolean;
}
export type ItemResult = T2IItemResult | CaptionItemResult | VqaItemResult;

export interface EvalReport {
  set: { name: string; version: number };
  model?: string;
  /** GenEval-style: overall is the mean of the category scores. */
  t2i: {
    overall: number;
    categories: Partial<Record<T2ICategory, number>>;
    /** The same with extra objects failing an image (score-t2i.ts). */
    strict: { overall: number; categories: Partial<Record<T2ICategory, number>> };
    /** Failed samples per category by reason (failureOf). */
    failures: Partial<Record<T2ICategory, Partial<Record<T2IFailure, number>>>>;
    n: number;
  } | null;
  caption: {
    exact_scene: number;
    /** Mean of the per-attribute accuracies in by_attribute. */
    attributes: number;
    by_attribute: Partial<Record<CaptionAttribute, number>>;
    n: number;
  } | null;
  vqa: { overall: number; by_question: Partial<Record<QuestionKind | 'other', number>>; n: number } | null;
  items: ItemResult[];
}

const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
const r3 = (v: number): number => Math.round(v * 1000) / 1000;

function summarize(f: FoundObject): FoundSummary {
  return { shape: f.shape, color: f.color, size: f.size, x: r3(f.x), y: r3(f.y) };
}

function checkAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new Error('evaluation interrupted');
}

/**
 * The model's outputs for `items`, `size` at a time through the batched function when there is one, else
 * one by one; `each` gets every output in item order as soon as its batch is done.
 */
async function inBatches<I, O>(
  items: readonly I[],
  size: number,
  ctxOf: (index: number) => ItemContext,
  batched: ((chunk: I[], ctx: ItemContext[]) => MaybePromise<O[]>) | undefined,
  single: ((item: I, ctx: ItemContext) => MaybePromise<O>) | undefined,
  each: (output: O, index: number) => void,
  signal: AbortSignal | undefined,
  what: string,
): Promise<void> {
  const step = batched ? size : 1;
  for (let start = 0; start < items.length; start += step) {
    checkAborted(signal);
    const chunk = items.slice(start, start + step);
    const ctx = chunk.map((_, k) => ctxOf(start + k));
    let outputs: O[];
    if (batched) {
      outputs = await batched(chunk, ctx);
      if (!Array.isArray(outputs) || outputs.length !== chunk.length)
        throw new Error(
          `runEvaluation: ${what} returned ${outputs?.length} results for ${chunk.length} items`,
        );
    } else {
      outputs = [await single!(chunk[0], ctx[0])];
    }
    outputs.forEach((o, k) => each(o, start + k));
  }
}

export async function runEvaluation(
  set: EvalSet,
  model: EvalModel,
  options: EvalOptions = {},
): Promise<EvalReport> {
  const seed = options.seed ?? 0;
  const width = options.resolution ?? 32;
  const batchSize = options.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new Error(`runEvaluation: batchSize must be a positive integer, got ${batchSize}`);
  const has: Record<EvalSection, boolean> = {
    t2i: !!(model.textToImage || model.textToImageBatch),
    caption: !!(model.caption || model.captionBatch),
    vqa: !!(model.answer || model.answerBatch),
  };
  const sections = options.sections ?? EVAL_SECTIONS.filter((s) => has[s]);
  for (const s of sections) {
    if (!has[s])
      throw new Error(
        `runEvaluation: section "${s}" needs model.${s === 't2i' ? 'textToImage' : s === 'caption' ? 'caption' : 'answer'}`,
      );
  }
  const run = new Set(sections);
  const total =
    (run.has('t2i') ? set.t2i.length : 0) +
    (run.has('caption') ? set.caption.length : 0) +
    (run.has('vqa') ? set.vqa.length : 0);
  const items: ItemResult[] = [];
  const done = (r: ItemResult): void => {
    items.push(r);
    options.onItem?.(r, items.length, total);
  };
  const ctxFor = (section: number, index: number, id: string): ItemContext => ({
    id,
    seed: deriveSeed(seed, `eval:${section}:${index}`),
  });
  const renders = new Map<Scene, RgbImage>();
  const imageOf = (scene: Scene): RgbImage => {
    let img = renders.get(scene);
    if (!img) renders.set(scene, (img = renderScene(scene, { width })));
    return img;
  };

  const report: EvalReport = {
    set: { name: set.name, version: set.version },
    t2i: null,
    caption: null,
    vqa: null,
    items,
  };
  if (model.name) report.model = model.name;

  if (run.has('t2i')) {
    const byCat = new Map<T2ICategory, boolean[]>();
    const strictByCat = new Map<T2ICategory, boolean[]>();
    const failures: Partial<Record<T2ICategory, Partial<Record<T2IFailure, number>>>> = {};
    await inBatches(
      set.t2i,
      batchSize,
      (i) => ctxFor(0, i, set.t2i[i].id),
      model.textToImageBatch &&
        ((chunk, ctx) =>
          model.textToImageBatch!(
            chunk.map((it) => it.prompt),
            ctx,
          )),
      model.textToImage && ((item, ctx) => model.textToImage!(item.prompt, ctx)),
      (image, i) => {
        const item = set.t2i[i];
        const found = judgeImage(image, options.judge);
        const v = scoreT2I(item.require, found);
        const r: T2IItemResult = {
          section: 't2i',
          id: item.id,
          category: item.category,
          prompt: item.prompt,
          pass: v.pass,
          strict: v.strict,
          objects: v.objects,
          found: found.map(summarize),
        };
        if (v.count !== undefined) r.count = v.count;
        if (v.relation !== undefined) r.relation = v.relation;
        const failure = failureOf(item.require, found, v);
        if (failure) {
          r.failure = failure;
          const byReason = (failures[item.category] ??= {});
          byReason[failure] = (byReason[failure] ?? 0) + 1;
        }
        options.onImage?.(r, image);
        if (!byCat.has(item.category)) byCat.set(item.category, []);
        byCat.get(item.category)?.push(v.pass);
        if (!strictByCat.has(item.category)) strictByCat.set(item.category, []);
        strictByCat.get(item.category)?.push(v.strict);
        done(r);
      },
      options.signal,
      'textToImageBatch',
    );
    const scores = (by: Map<T2ICategory, boolean[]>): Partial<Record<T2ICategory, number>> => {
      const out: Partial<Record<T2ICategory, number>> = {};
      for (const c of T2I_CATEGORIES) {
        const passes = by.get(c);
        if (passes) out[c] = mean(passes.map(Number));
      }
      return out;
    };
    const categories = scores(byCat);
    const strict = scores(strictByCat);
    report.t2i = {
      overall: mean(Object.values(categories)),
      categories,
      strict: { overall: mean(Object.values(strict)), categories: strict },
      failures,
      n: set.t2i.length,
    };
  }

  if (run.has('caption')) {
    const exact: number[] = [];
    const byAttr = new Map<CaptionAttribute, number[]>();
    await inBatches(
      set.caption,
      batchSize,
      (i) => ctxFor(1, i, set.caption[i].id),
      model.captionBatch &&
        ((chunk, ctx) =>
          model.captionBatch!(
            chunk.map((it) => imageOf(it.scene)),
            ctx,
          )),
      model.caption && ((item, ctx) => model.caption!(imageOf(item.scene), ctx)),
      (caption, i) => {
        const item = set.caption[i];
        const s = scoreCaption(item.scene, caption);
        exact.push(Number(s.exact));
        for (const [k, v] of Object.entries(s.attributes) as [CaptionAttribute, number][]) {
          if (!byAttr.has(k)) byAttr.set(k, []);
          byAttr.get(k)?.push(v);
        }
        done({
          section: 'caption',
          id: item.id,
          caption,
          reference: fullCaption(item.scene),
          exact: s.exact,
          attributes: s.attributes,
        });
      },
      options.signal,
      'captionBatch',
    );
    const by_attribute: Partial<Record<CaptionAttribute, number>> = {};
    for (const a of CAPTION_ATTRIBUTES) {
      const vs = byAttr.get(a);
      if (vs) by_attribute[a] = mean(vs);
    }
    report.caption = {
      exact_scene: mean(exact),
      attributes: mean(Object.values(by_attribute)),
      by_attribute,
      n: set.caption.length,
    };
  }

  if (run.has('vqa')) {
    const byKind = new Map<QuestionKind | 'other', boolean[]>();
    await inBatches(
      set.vqa,
      batchSize,
      (i) => ctxFor(2, i, set.vqa[i].id),
      model.answerBatch &&
        ((chunk, ctx) =>
          model.answerBatch!(
            chunk.map((it) => ({ image: imageOf(it.scene), question: it.question })),
            ctx,
          )),
      model.answer && ((item, ctx) => model.answer!(imageOf(item.scene), item.question, ctx)),
      (answer, i) => {
        const item = set.vqa[i];
        const correct = scoreVqa(answer, item.answer);
        const kind = questionKind(item.question) ?? 'other';
        if (!byKind.has(kind)) byKind.set(kind, []);
        byKind.get(kind)?.push(correct);
        done({
          section: 'vqa',
          id: item.id,
          kind,
          question: item.question,
          answer,
          expected: item.answer,
          correct,
        });
      },
      options.signal,
      'answerBatch',
    );
    const by_question: Partial<Record<QuestionKind | 'other', number>> = {};
    for (const k of [...QUESTION_KINDS, 'other'] as const) {
      const vs = byKind.get(k);
      if (vs) by_question[k] = mean(vs.map(Number));
    }
    const all = items.filter((r): r is VqaItemResult => r.section === 'vqa');
    report.vqa = { overall: mean(all.map((r) => Number(r.correct))), by_question, n: set.vqa.length };
  }
  return report;
}
