/** Small tokenizer.json documents in the two shapes we load: WordLevel (shapes world) and T5's Unigram. */

const special = (id: number, content: string): Record<string, unknown> => ({
  id,
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: false,
  special: true,
});

const eosTemplate = {
  type: 'TemplateProcessing',
  single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
  pair: [
    { Sequence: { id: 'A', type_id: 0 } },
    { SpecialToken: { id: '</s>', type_id: 0 } },
    { Sequence: { id: 'B', type_id: 0 } },
    { SpecialToken: { id: '</s>', type_id: 0 } },
  ],
  special_tokens: { '</s>': { id: '</s>', ids: [1], tokens: ['</s>'] } },
};

export const WORDS = [
  'a',
  'red',
  'blue',
  'circle',
  'square',
  'left',
  'of',
  'q',
  'a:',
  'what',
  'colour',
  '.',
  '?',
  ':',
];

export function wordLevelJson(): Record<string, unknown> {
  const vocab: Record<string, number> = { '<pad>': 0, '</s>': 1, '<unk>': 2 };
  WORDS.forEach((w, i) => (vocab[w] = 3 + i));
  vocab['<extra_id_0>'] = 3 + WORDS.length;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      special(0, '<pad>'),
      special(1, '</s>'),
      special(2, '<unk>'),
      special(3 + WORDS.length, '<extra_id_0>'),
    ],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Lowercase' }] },
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: eosTemplate,
    decoder: null,
    model: { type: 'WordLevel', vocab, unk_token: '<unk>' },
  };
}

/** A T5-shaped Unigram tokenizer (Metaspace pre-tokenizer and decoder, sentinels at the end). */
export function unigramJson(): Record<string, unknown> {
  const pieces: Array<[string, number]> = [
    ['<pad>', 0],
    ['</s>', 0],
    ['<unk>', 0],
    ['▁', -2],
    ['▁a', -1],
    ['▁red', -1.5],
    ['▁circle', -2],
    ['▁ci', -3],
    ['rcle', -3],
    ['.', -2],
    ['r', -4],
    ['e', -4],
    ['d', -4],
    ['b', -5],
    ['l', -5],
    ['u', -5],
    ['?', -3],
    ['<extra_id_1>', 0],
    ['<extra_id_0>', 0],
  ];
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      special(0, '<pad>'),
      special(1, '</s>'),
      special(2, '<unk>'),
      special(17, '<extra_id_1>'),
      special(18, '<extra_id_0>'),
    ],
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'WhitespaceSplit' },
        { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
      ],
    },
    post_processor: eosTemplate,
    decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    model: { type: 'Unigram', unk_id: 2, vocab: pieces, byte_fallback: false },
  };
}
