import { captionClaims, promptQuestions, relationInfills } from '../../../../nodes/data/shapes/prompt-checks';
import { parseQuestion } from '../../../../nodes/data/shapes/questions';
import { COLORS } from '../../../../nodes/data/shapes/world';

describe('promptQuestions', () => {
  it('asks whether each coloured object is there', () => {
    expect(promptQuestions('a red circle and a blue square')).toEqual([
      { question: 'is there a red circle?', answer: 'yes' },
      { question: 'is there a blue square?', answer: 'yes' },
    ]);
  });

  it('asks an object named without a colour once per colour, as alternatives of one group', () => {
    const qs = promptQuestions('a square and a triangle');
    expect(qs).toHaveLength(2 * COLORS.length);
    expect(qs.filter((q) => q.group === 0).map((q) => q.question)).toEqual(
      COLORS.map((c) => `is there a ${c} square?`),
    );
    expect(new Set(qs.filter((q) => q.group === 1).map((q) => q.question.split(' ').pop()))).toEqual(
      new Set(['triangle?']),
    );
  });

  it('asks for counts and for the place of a single object', () => {
    expect(promptQuestions('three blue squares')).toContainEqual({
      question: 'how many squares are there?',
      answer: 'three',
    });
    expect(promptQuestions('a large green triangle on the left')).toContainEqual({
      question: 'where is the triangle?',
      answer: 'left',
    });
    // a place is asked only of a lone object: "where is the circle?" is ambiguous beside others
    expect(
      promptQuestions('a red circle on the left and a blue square').some((q) =>
        q.question.startsWith('where'),
      ),
    ).toBe(false);
  });

  it('writes only questions of the trained forms', () => {
    for (const prompt of [
      'two yellow circles',
      'a white square above a purple circle',
      'a triangle at the top',
    ]) {
      for (const q of promptQuestions(prompt)) expect(parseQuestion(q.question)).toBeDefined();
    }
  });

  it('finds nothing to ask in a prompt outside the grammar', () => {
    expect(promptQuestions('a photograph of a cat')).toEqual([]);
    expect(promptQuestions('')).toEqual([]);
  });
});

describe('captionClaims', () => {
  const prompt = 'a red circle left of a blue square';

  it('counts a relation the caption states, as itself or as its converse', () => {
    expect(captionClaims(prompt, 'a large red circle left of a small blue square')).toBe(1);
    expect(captionClaims(prompt, 'a small blue square right of a large red circle')).toBe(1);
  });

  it('counts a relation stated the other way against', () => {
    expect(captionClaims(prompt, 'a small blue square left of a large red circle')).toBe(-1);
    expect(captionClaims(prompt, 'a large red circle right of a small blue square')).toBe(-1);
  });

  it('cannot dodge a contradiction by leaving an object unpaired', () => {
    // the pairing that pairs both objects contradicts the prompt; pairing none would score 0
    expect(captionClaims('a circle left of a square', 'a red square left of a blue circle')).toBe(-1);
  });

  it('is silent where the caption is: another axis, another object, no relation', () => {
    expect(captionClaims(prompt, 'a large red circle above a small blue square')).toBe(0);
    expect(captionClaims(prompt, 'a large red circle left of a small green square')).toBe(0);
    expect(captionClaims(prompt, 'a red circle and a blue square')).toBe(0);
    expect(captionClaims('a red circle and a blue square', 'a red circle left of a blue square')).toBe(0);
  });

  it('compares the place of an object', () => {
    expect(captionClaims('a circle on the left', 'a large white circle on the left')).toBe(1);
    expect(captionClaims('a circle on the left', 'a large white circle at the top')).toBe(-1);
    expect(captionClaims('a circle on the left', 'a large white square on the left')).toBe(0);
  });
});

describe('relationInfills', () => {
  const masked = (rel: string[]) => ['a', null, null, null, ...rel, 'a', null, null, null];

  it('masks both noun phrases of the full caption form and reads what the prompt states, left or upper first', () => {
    expect(relationInfills('a red circle left of a square')).toEqual([
      {
        words: masked(['left', 'of']),
        expect: [
          { at: 2, word: 'red' },
          { at: 3, word: 'circle' },
          { at: 9, word: 'square' },
        ],
      },
    ]);
    expect(relationInfills('a circle right of a large blue square')).toEqual([
      {
        words: masked(['left', 'of']),
        expect: [
          { at: 1, word: 'large' },
          { at: 2, word: 'blue' },
          { at: 3, word: 'square' },
          { at: 9, word: 'circle' },
        ],
      },
    ]);
    expect(relationInfills('a triangle below a circle')).toEqual([
      {
        words: masked(['above']),
        expect: [
          { at: 3, word: 'circle' },
          { at: 8, word: 'triangle' },
        ],
      },
    ]);
  });

  it('leaves out relations between groups and prompts without relations', () => {
    expect(relationInfills('two circles left of a square')).toEqual([]);
    expect(relationInfills('a red circle and a blue square')).toEqual([]);
  });
});
