/**
 * Prompt readers for self-check: each turns a prompt into the checks SelfCheckSelect runs on a candidate. A
 * reader knows a world's language; the shapes world's is its caption grammar. A prompt a reader cannot read
 * yields an empty plan (no questions, no caption), which keeps the first candidate.
 */
import { parseCaption } from '../data/shapes/parse-caption';
import { captionClaims, hasClaims, promptQuestions, relationInfills } from '../data/shapes/prompt-checks';
import type { SelfCheckPlan } from './self-check';

export const PROMPT_READERS = {
  shapes: (prompt: string): SelfCheckPlan => {
    const parsed = parseCaption(prompt);
    return {
      questions: promptQuestions(parsed),
      infills: relationInfills(parsed),
      claims: hasClaims(parsed) ? (caption: string) => captionClaims(parsed, caption) : undefined,
    };
  },
} as const satisfies Record<string, (prompt: string) => SelfCheckPlan>;

export type PromptReader = keyof typeof PROMPT_READERS;
export const PROMPT_READER_NAMES = Object.keys(PROMPT_READERS) as PromptReader[];

export function isEmptyPlan(plan: SelfCheckPlan): boolean {
  return plan.questions.length === 0 && !plan.infills?.length && !plan.claims;
}
