import { questionInfills } from '../../../../nodes/data/shapes/question-readings';

const text = (f: { words: readonly (string | null)[] }) => f.words.map((w) => w ?? '·').join(' ');
const order = (f: { expect: readonly { word: string }[] }) => f.expect.map((e) => e.word);

describe('questionInfills', () => {
  it('restates a relation question as the full caption, for yes and for no', () => {
    const options = questionInfills('Is the circle left of the square?')!;
    expect(options.map((o) => o.answer)).toEqual(['yes', 'no']);
    const [yes, no] = options;
    expect(yes.infills.map(text)).toEqual(['a · · · left of a · · ·']);
    expect(yes.infills[0].expect).toEqual([
      { at: 3, word: 'circle' },
      { at: 9, word: 'square' },
    ]);
    // no: the same caption with the objects swapped
    expect(no.infills.map(text)).toEqual(yes.infills.map(text));
    expect(no.infills.map(order)).toEqual([['square', 'circle']]);
  });

  it('writes right of and below in the full caption form, left or upper object first', () => {
    const [yes, no] = questionInfills('is the square right of the triangle?')!;
    expect(yes.infills.map(text)).toEqual(['a · · · left of a · · ·']);
    expect(yes.infills.map(order)).toEqual([['triangle', 'square']]);
    expect(no.infills.map(order)).toEqual([['square', 'triangle']]);
    const [below] = questionInfills('is the triangle below the circle?')!;
    expect(below.infills.map(text)).toEqual(['a · · · above a · · ·']);
    expect(below.infills[0].expect).toEqual([
      { at: 3, word: 'circle' },
      { at: 8, word: 'triangle' },
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
