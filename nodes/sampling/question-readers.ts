/**
 * Question readers for AnswerQuestion: each restates the questions of a world's language that it knows as
 * caption in-fills per possible answer (read-answers.ts). 'none' leaves every question to the sampler.
 */
import { questionInfills } from '../data/shapes/question-readings';
import type { AnswerOption } from './read-answers';

export const QUESTION_READERS = {
  none: (): AnswerOption[] | undefined => undefined,
  shapes: (question: string): AnswerOption[] | undefined => questionInfills(question),
} as const satisfies Record<string, (question: string) => AnswerOption[] | undefined>;

export type QuestionReader = keyof typeof QUESTION_READERS;
export const QUESTION_READER_NAMES = Object.keys(QUESTION_READERS) as QuestionReader[];
