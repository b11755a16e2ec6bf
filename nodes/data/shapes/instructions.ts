/**
 * Instruction data: a question (or the request to describe the image) with its answer, and the prompt
 * text the D-DiT's text head sees, following spec §4's SFT layout "Q: {human} A: {answer}". Short-answer
 * questions carry the suffix LLaVA's short-answer sets use.
 */
import { chance, type Rng } from './random';
import { fullCaption } from './captions';
import { KIND_WEIGHTS, QUESTION_KINDS, sampleQuestion, type QuestionKind } from './questions';
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

/**
 * A caption request with probability captionShare, else a question of a kind the scene can answer, drawn by
 * `weights` (a scene that answers none of the weighted kinds gets the caption request); hardNegativeShare as
 * sampleQuestion's.
 */
export function sampleInstruction(
  rng: Rng,
  scene: Scene,
  captionShare = CAPTION_SHARE,
  weights: Readonly<Record<QuestionKind, number>> = KIND_WEIGHTS,
  hardNegativeShare = 1,
): Instruction {
  if (!chance(rng, captionShare)) {
    const qa = sampleQuestion(rng, scene, undefined, weights, hardNegativeShare);
    if (qa)
      return { kind: qa.kind, question: qa.question, prompt: vqaPrompt(qa.question), answer: qa.answer };
  }
  return captionInstruction(scene);
}
