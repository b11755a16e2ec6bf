/** Splits text into lower-case words and punctuation, as the tokenizer's Whitespace pre-tokenizer does. */
export function splitWords(text: string): string[] {
  return text.toLowerCase().match(/\w+|[^\w\s]+/g) ?? [];
}
