/**
 * Questions of the shapes world that the caption head answers better than the answer slot: a relation
 * question ("is the circle left of the square?") is restated as the full caption the model would write, and
 * the answer is the one whose caption it finds likelier (AnswerQuestion with a reader,
 * nodes/sampling/read-answers.ts). The VQA head answers relation questions at chance (its answer follows the
 * relation word); the caption head, trained towards "a large red circle left of a small blue square", names the
 * objects in the right order in almost every scene.
 */
import { parseQuestion } from './questions';
import { fullCaptionInfill, type PromptInfill } from './prompt-checks';

export interface AnswerInfills {
  answer: string;
  /** In-fills whose log-probabilities add up to the answer's score. */
  infills: PromptInfill[];
}

/**
 * "is the {a} {rel} the {b}?" → yes: the full caption's form of the relation ("left of" or "above", the left or
 * upper object first) with the objects in the order the question implies, "a · · · {a} left of a · · · {b}" for
 * "left of", "a · · · {b} left of a · · · {a}" for "right of"; no: the objects swapped. Sizes and colours stay
 * masked. Other questions: undefined (the answer slot answers them).
 */
export function questionInfills(question: string): AnswerInfills[] | undefined {
  const p = parseQuestion(question);
  if (p?.kind !== 'relation' || p.a === p.b) return undefined;
  const a = { shape: p.a };
  const b = { shape: p.b };
  return [
    { answer: 'yes', infills: [fullCaptionInfill(a, p.rel, b)] },
    { answer: 'no', infills: [fullCaptionInfill(b, p.rel, a)] },
  ];
}
