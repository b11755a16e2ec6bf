import { questionInfills } from '../../../../nodes/data/shapes/question-readings';

const text = (f: { words: readonly (string | null)[] }) => f.words.map((w) => w ?? '·').join(' ');

describe('questionInfills', () => {
  it('restates a relation question as captions for yes and for no', () => {
    const options = questionInfills('Is the circle left of the square?')!;
    expect(options.map((o) => o.answer)).toEqual(['yes', 'no']);
    const [yes, no] = options;
    expect(yes.infills.map(text)).toEqual(['a · · · left of a · · ·', 'a · · · right of a · · ·']);
    expect(yes.infills.map((f) => f.expect)).toEqual([
      [
        { at: 3, word: 'circle' },
        { at: 9, word: 'square' },
      ],
      [
        { at: 3, word: 'square' },
        { at: 9, word: 'circle' },
      ],
    ]);
    // no: the same captions with the objects swapped
    expect(no.infills.map(text)).toEqual(yes.infills.map(text));
    expect(no.infills.map((f) => f.expect.map((e) => e.word))).toEqual([
      ['square', 'circle'],
      ['circle', 'square'],
    ]);
  });

  it('reads vertical relations with one relation word', () => {
    const [yes] = questionInfills('is the triangle below the circle?')!;
    expect(yes.infills.map(text)).toEqual(['a · · · below a · · ·', 'a · · · above a · · ·']);
    expect(yes.infills[0].expect).toEqual([
      { at: 3, word: 'triangle' },
      { at: 8, word: 'circle' },
    ]);
  });

  it('leaves other questions to the sampler', () => {
    for (const q of [
      'what color is the circle?',
      'how many squares are there?',
      'is there a red circle?',
      'where is the square?',
      'is the circle left of the circle?',
      'is the blob left of the square?',
    ])
      expect(questionInfills(q)).toBeUndefined();
  });
});
