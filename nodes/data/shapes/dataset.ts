/**
 * A virtual data set of shapes scenes: item i is drawn from (seed, i) alone, rendered on demand, so any
 * size costs no memory and item i is the same whichever order items are read in. The `draw` argument of
 * get() redraws the text for the same image (a fresh caption or question each epoch).
 */
import { Rng } from './random';
import { sampleCaption, type CaptionLevel } from './captions';
import { CAPTION_SHARE, kindWeights, sampleInstruction, type InstructionKind } from './instructions';
import { isQuestionKind, QUESTION_KINDS, type QuestionKind } from './questions';
import { renderScene } from './render';
import { SCENE_KINDS, SCENE_MIX, sampleScene, type SceneKind } from './sampler';
import type { Scene } from './world';

export const DATASET_TASKS = ['caption', 'instruction'] as const;
export type DatasetTask = (typeof DATASET_TASKS)[number];

export interface ShapesDatasetOptions {
  seed: number;
  size: number;
  /** 'caption': image + caption at a random level of detail (text-to-image training);
   *  'instruction': image + question + answer (captioning and VQA training). */
  task: DatasetTask;
  resolution?: number;
  supersample?: number;
  /** Instruction task: the share of caption requests (default CAPTION_SHARE, the recipe's 35%). */
  captionShare?: number;
  /** Instruction task: the question kinds asked (default all six, in KIND_WEIGHTS' proportions). */
  questionKinds?: readonly QuestionKind[];
  /** Instruction task: the share of "is there…?" negatives that are hard (default 1: all). */
  hardNegatives?: number;
  /** Instruction task: the share of questions about a caption written in the prompt, on a blank canvas
   *  (default 0; see captionQuestion). */
  captionQuestions?: number;
  /** Weights of the scene kinds (default SCENE_MIX). */
  sceneMix?: Readonly<Record<SceneKind, number>>;
  /** Random pairs always hold two different shapes (default false). */
  distinctPairs?: boolean;
}

/** "is_there, relation" → kinds; '' → all. Unknown names are errors naming them. */
export function parseQuestionKinds(text: string): QuestionKind[] {
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0) return [...QUESTION_KINDS];
  for (const n of names) {
    if (!isQuestionKind(n))
      throw new Error(`unknown question kind '${n}' (choose from ${QUESTION_KINDS.join(', ')})`);
  }
  return QUESTION_KINDS.filter((k) => names.includes(k));
}

interface ItemBase {
  /** RGB, height × width × 3 (HWC), values in [0, 1]. */
  image: Float32Array;
  width: number;
  height: number;
  scene: Scene;
  sceneKind: SceneKind;
}
export interface CaptionItem extends ItemBase {
  caption: string;
  level: CaptionLevel;
}
export interface InstructionItem extends ItemBase {
  question: string;
  answer: string;
  /** The prompt text up to "a:"; the answer follows it. */
  prompt: string;
  kind: InstructionKind;
  /** The question carries the scene's caption and the image is a blank canvas (captionQuestion). */
  fromCaption?: boolean;
}
export type ShapesItem = CaptionItem | InstructionItem;

export class ShapesDataset {
  readonly kind = 'shapes';
  readonly seed: number;
  readonly size: number;
  readonly task: DatasetTask;
  readonly resolution: number;
  readonly supersample: number;
  readonly captionShare: number;
  readonly questionKinds: readonly QuestionKind[];
  readonly hardNegatives: number;
  readonly captionQuestions: number;
  readonly sceneMix: Readonly<Record<SceneKind, number>>;
  readonly distinctPairs: boolean;
  /** Set only when the instruction mix differs from the default, so default streams keep their checkpoint key. */
  readonly fingerprint?: string;
  /** Items are made on demand, so the object itself is small. */
  readonly byteSize = 256;
  private readonly weights: Readonly<Record<QuestionKind, number>>;

  constructor(options: ShapesDatasetOptions) {
    const { seed, size, task } = options;
    if (!Number.isInteger(size) || size < 1)
      throw new Error(`ShapesDataset: size must be a positive integer, got ${size}`);
    if (!(DATASET_TASKS as readonly string[]).includes(task)) {
      throw new Error(
        `ShapesDataset: task must be one of ${DATASET_TASKS.join(', ')}, got ${JSON.stringify(task)}`,
      );
    }
    this.seed = seed;
    this.size = size;
    this.task = task;
    this.resolution = options.resolution ?? 32;
    this.supersample = options.supersample ?? 4;
    if (!Number.isSafeInteger(seed) || seed < 0)
      throw new Error(`ShapesDataset: seed must be a non-negative integer, got ${seed}`);
    this.captionShare = options.captionShare ?? CAPTION_SHARE;
    if (!(this.captionShare >= 0 && this.captionShare <= 1))
      throw new Error(`ShapesDataset: caption_share must lie in [0, 1], got ${this.captionShare}`);
    this.questionKinds = options.questionKinds ?? QUESTION_KINDS;
    if (this.questionKinds.length === 0 && this.captionShare < 1)
      throw new Error('ShapesDataset: no question kind to ask (give at least one, or caption_share 1)');
    this.hardNegatives = options.hardNegatives ?? 1;
    if (!(this.hardNegatives >= 0 && this.hardNegatives <= 1))
      throw new Error(`ShapesDataset: hard_negatives must lie in [0, 1], got ${this.hardNegatives}`);
    this.captionQuestions = options.captionQuestions ?? 0;
    if (!(this.captionQuestions >= 0 && this.captionQuestions <= 1)) {
      throw new Error(`ShapesDataset: caption_questions must lie in [0, 1], got ${this.captionQuestions}`);
    }
    this.sceneMix = options.sceneMix ?? SCENE_MIX;
    if (SCENE_KINDS.some((k) => !(this.sceneMix[k] >= 0)) || SCENE_KINDS.every((k) => this.sceneMix[k] === 0))
      throw new Error(`ShapesDataset: scene_mix needs weights ≥ 0, not all 0, for ${SCENE_KINDS.join(', ')}`);
    this.distinctPairs = options.distinctPairs ?? false;
    const defaultScenes = !this.distinctPairs && SCENE_KINDS.every((k) => this.sceneMix[k] === SCENE_MIX[k]);
    const allKinds = QUESTION_KINDS.every((k) => this.questionKinds.includes(k));
    this.weights = kindWeights(this.questionKinds);
    const defaultMix =
      allKinds &&
      this.captionShare === CAPTION_SHARE &&
      this.hardNegatives === 1 &&
      this.captionQuestions === 0;
    if ((task === 'instruction' && !defaultMix) || !defaultScenes) {
      this.fingerprint = JSON.stringify({
        kind: this.kind,
        task,
        seed,
        size,
        resolution: this.resolution,
        caption_share: this.captionShare,
        question_kinds: this.questionKinds,
        hard_negatives: this.hardNegatives,
        // absent at 0, so run folders started before this input keep their key
        ...(this.captionQuestions > 0 ? { caption_questions: this.captionQuestions } : {}),
        ...(defaultScenes ? {} : { scene_mix: this.sceneMix, distinct_pairs: this.distinctPairs }),
      });
    }
  }

  /** The scene of item i, without rendering it. */
  scene(i: number): { scene: Scene; kind: SceneKind } {
    if (!Number.isInteger(i) || i < 0 || i >= this.size) {
      throw new Error(`ShapesDataset: index ${i} is outside 0..${this.size - 1}`);
    }
    return sampleScene(new Rng(this.seed, `shapes-scene:${i}`), undefined, {
      mix: this.sceneMix,
      distinctPairs: this.distinctPairs,
    });
  }

  get(i: number, draw = 0): ShapesItem {
    const { scene, kind } = this.scene(i);
    const rng = new Rng(this.seed, `shapes-text:${i}:${draw}`);
    if (this.task === 'caption') {
      const c = sampleCaption(rng, scene);
      return { ...this.rendered(scene, kind, scene), caption: c.text, level: c.level };
    }
    const ins = sampleInstruction(
      rng,
      scene,
      this.captionShare,
      this.weights,
      this.hardNegatives,
      this.captionQuestions,
    );
    const shown: Scene = ins.fromCaption ? { background: scene.background, objects: [] } : scene;
    return {
      ...this.rendered(scene, kind, shown),
      question: ins.question,
      answer: ins.answer,
      prompt: ins.prompt,
      kind: ins.kind,
      ...(ins.fromCaption ? { fromCaption: true } : {}),
    };
  }

  /** The item's common part: `scene` is what it is about, `shown` what its image draws. */
  private rendered(scene: Scene, kind: SceneKind, shown: Scene): ItemBase {
    const img = renderScene(shown, { width: this.resolution, supersample: this.supersample });
    return { image: img.data, width: img.width, height: img.height, scene, sceneKind: kind };
  }

  *[Symbol.iterator](): Iterator<ShapesItem> {
    for (let i = 0; i < this.size; i++) yield this.get(i);
  }
}
