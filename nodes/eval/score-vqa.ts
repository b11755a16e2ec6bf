/** VQA scoring: exact match after lower-casing and trimming, as issue 5 specifies. */
export function normalizeAnswer(answer: string): string {
  return answer.trim().toLowerCase();
}

export function scoreVqa(answer: string, expected: string): boolean {
  return normalizeAnswer(answer) === normalizeAnswer(expected);
}
