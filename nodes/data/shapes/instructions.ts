/**
 * Instruction data: a question (or the request to describe the image) with its answer, and the prompt
 * text the D-DiT's text head sees, following spec §4's SFT layout "Q: {human} A: {answer}". Short-answer
 * questions carry the suffix LLaVA's short-answer sets use.
 */
import { chance, type Rng } from './random';
import { fullCaption, fullCaptionRelation } from './captions';
import {
  KIND_WEIGHTS,
  parseQuestion,
  QUESTION_KINDS,
  sampleQuestion,
  type QA,
  type QuestionKind,
} from './questions';
import type { Relation } from './relations';
import type { Scene } from './world';

export const CAPTION_REQUEST = 'describe the image.';
export const SHORT_ANSWER_SUFFIX = 'answer the question using a single word or phrase.';

/** "q: {human} a:" (the tokenizer lower-cases, so the case here does not matter). */
export function promptFor(human: string): string {
  return `q: ${human} a:`;
}

export function vqaPrompt(question: string): string {
  return promptFor(`${question.trim()} ${SHORT_ANSWER_SUFFIX}`);
}

export function captionPrompt(): string {
  return promptFor(CAPTION_REQUEST);
}

export type InstructionKind = 'caption' | QuestionKind;

export interface Instruction {
  kind: InstructionKind;
  /** What is asked: a question of the six forms, or CAPTION_REQUEST. */
  question: string;
  /** The full prompt text, up to and including "a:". */
  prompt: string;
  answer: string;
  /** The prompt carries the scene's caption and the image is a blank canvas: the answer is read from the text. */
  fromCaption?: boolean;
}

/** Share of instructions that ask for the full caption (the recipe's 35%). */
export const CAPTION_SHARE = 0.35;

export function captionInstruction(scene: Scene): Instruction {
  return { kind: 'caption', question: CAPTION_REQUEST, prompt: captionPrompt(), answer: fullCaption(scene) };
}

/** KIND_WEIGHTS restricted to some kinds (the others weigh 0). */
export function kindWeights(kinds: readonly QuestionKind[]): Record<QuestionKind, number> {
  const out = { ...KIND_WEIGHTS };
  for (const k of QUESTION_KINDS) if (!kinds.includes(k)) out[k] = 0;
  return out;
}

const axisOf = (rel: Relation): 'x' | 'y' => (rel === 'left of' || rel === 'right of' ? 'x' : 'y');

/** Whether the scene's full caption alone settles the question's answer. */
export function captionSettles(scene: Scene, qa: QA): boolean {
  const p = parseQuestion(qa.question);
  switch (p?.kind) {
    case 'what_color':
    case 'what_shape':
    case 'how_many':
    case 'is_there':
      return true; // the full caption names every object's colour and shape
    case 'where':
      return scene.objects.length === 1; // only a single object's position is stated
    case 'relation': {
      // "a left of b" settles left/right questions about the pair, not above/below ones
      const stated = fullCaptionRelation(scene);
      return stated !== undefined && axisOf(stated.rel) === axisOf(p.rel);
    }
    default:
      return false;
  }
}

/**
 * A question about a scene the model is told in words and not shown: "q: a red circle left of a white
 * triangle. what shape is the red object? … a:" on a blank canvas. Answering needs the text side to tie
 * each colour, size and position to its shape, the binding text-to-image needs and the image-grounded
 * questions never ask of the text. Undefined when the caption settles no question of the weighted kinds.
 */
export function captionQuestion(
  rng: Rng,
  scene: Scene,
  weights: Readonly<Record<QuestionKind, number>> = KIND_WEIGHTS,
  hardNegativeShare = 1,
): Instruction | undefined {
  const qa = sampleQuestion(rng, scene, undefined, weights, hardNegativeShare, (q) =>
    captionSettles(scene, q),
  );
  if (!qa) return undefined;
  const human = `${fullCaption(scene)}. ${qa.question}`;
  return { kind: qa.kind, question: human, prompt: vqaPrompt(human), answer: qa.answer, fromCaption: true };
}

/**
 * A caption request with probability captionShare, else a question of a kind the scene can answer, drawn by
 * `weights` (a scene that answers none of the weighted kinds gets the caption request); hardNegativeShare as
 * sampleQuestion's. With probability captionQuestionShare (drawn first, and only when above 0, so streams
 * without it are unchanged) the item is a captionQuestion instead.
 */
export function sampleInstruction(
  rng: Rng,
  scene: Scene,
  captionShare = CAPTION_SHARE,
  weights: Readonly<Record<QuestionKind, number>> = KIND_WEIGHTS,
  hardNegativeShare = 1,
  captionQuestionShare = 0,
): Instruction {
  if (captionQuestionShare > 0 && chance(rng, captionQuestionShare)) {
    const asked = captionQuestion(rng, scene, weights, hardNegativeShare);
    if (asked) return asked;
  }
  if (!chance(rng, captionShare)) {
    const qa = sampleQuestion(rng, scene, undefined, weights, hardNegativeShare);
    if (qa)
      return { kind: qa.kind, question: qa.question, prompt: vqaPrompt(qa.question), answer: qa.answer };
  }
  return captionInstruction(scene);
}
