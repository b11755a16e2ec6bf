/**
 * Questions of the shapes world that the caption head answers better than the answer slot: a relation
 * question ("is the circle left of the square?") is restated as captions the model would write, and the answer
 * is the one whose captions it finds likelier (AnswerQuestion with a reader, nodes/sampling/read-answers.ts).
 * The VQA head answers relation questions at chance (its answer follows the relation word); the caption head,
 * trained on "a red circle left of a blue square", names the objects in the right order in most scenes.
 */
import { parseQuestion } from './questions';
import { relationInfill, type PromptInfill } from './prompt-checks';
import { CONVERSE } from './relations';

export interface AnswerInfills {
  answer: string;
  /** In-fills whose log-probabilities add up to the answer's score. */
  infills: PromptInfill[];
}

/**
 * "is the {a} {rel} the {b}?" → yes: "a · · {a} {rel} a · · {b}" and "a · · {b} {converse} a · · {a}";
 * no: the same with the objects swapped. Other questions: undefined (the answer slot answers them).
 */
export function questionInfills(question: string): AnswerInfills[] | undefined {
  const p = parseQuestion(question);
  if (p?.kind !== 'relation' || p.a === p.b) return undefined;
  const a = { shape: p.a };
  const b = { shape: p.b };
  const converse = CONVERSE[p.rel];
  return [
    { answer: 'yes', infills: [relationInfill(p.rel, a, b), relationInfill(converse, b, a)] },
    { answer: 'no', infills: [relationInfill(p.rel, b, a), relationInfill(converse, a, b)] },
  ];
}
