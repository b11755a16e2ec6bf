import type { FoundObject } from '../../../nodes/eval/judge';
import { failureOf, scoreT2I } from '../../../nodes/eval/score-t2i';
import type { T2IRequirement } from '../../../nodes/eval/eval-set';

const f = (shape: FoundObject['shape'], color: FoundObject['color'], x: number, y: number): FoundObject => ({
  shape,
  color,
  size: 'small',
  x,
  y,
  area: 0.03,
  fill: 0.8,
  skew: 0,
});

describe('scoreT2I', () => {
  it('needs every required object, one to one', () => {
    const req = { objects: [{ shape: 'circle' as const }, { shape: 'circle' as const }] };
    expect(scoreT2I(req, [f('circle', 'red', 0.2, 0.2)]).pass).toBe(false);
    expect(scoreT2I(req, [f('circle', 'red', 0.2, 0.2), f('circle', 'blue', 0.7, 0.7)]).pass).toBe(true);
    expect(
      scoreT2I(req, [
        f('circle', 'red', 0.2, 0.2),
        f('square', 'red', 0.7, 0.7),
        f('circle', 'red', 0.5, 0.8),
      ]),
    ).toMatchObject({
      pass: true,
      strict: false,
      extra: 1,
      matched: [0, 2],
    });
  });

  it('strict: an image holds no objects beyond those the prompt names', () => {
    const req = { objects: [{ shape: 'circle' as const, color: 'red' as const }] };
    expect(scoreT2I(req, [f('circle', 'red', 0.5, 0.5)])).toMatchObject({
      pass: true,
      strict: true,
      extra: 0,
    });
    expect(scoreT2I(req, [f('circle', 'red', 0.5, 0.5), f('square', 'blue', 0.1, 0.1)])).toMatchObject({
      pass: true,
      strict: false,
      extra: 1,
    });
    const count = { objects: [{ shape: 'square' as const }], count: { shape: 'square' as const, n: 3 } };
    const three = [f('square', 'red', 0.2, 0.2), f('square', 'red', 0.5, 0.5), f('square', 'red', 0.8, 0.8)];
    expect(scoreT2I(count, three)).toMatchObject({ pass: true, strict: true });
  });

  it('binds colours to shapes', () => {
    const req = {
      objects: [
        { shape: 'circle' as const, color: 'red' as const },
        { shape: 'square' as const, color: 'blue' as const },
      ],
    };
    expect(scoreT2I(req, [f('circle', 'blue', 0.2, 0.2), f('square', 'red', 0.7, 0.7)]).pass).toBe(false);
    expect(scoreT2I(req, [f('circle', 'red', 0.2, 0.2), f('square', 'blue', 0.7, 0.7)]).pass).toBe(true);
  });

  it('counts exactly', () => {
    const req = {
      objects: [{ shape: 'square' as const }, { shape: 'square' as const }],
      count: { shape: 'square' as const, n: 2 },
    };
    const two = [f('square', 'red', 0.2, 0.2), f('square', 'red', 0.7, 0.7), f('circle', 'red', 0.2, 0.8)];
    expect(scoreT2I(req, two)).toMatchObject({ pass: true, count: true });
    expect(scoreT2I(req, [...two, f('square', 'green', 0.8, 0.2)])).toMatchObject({
      pass: false,
      objects: true,
      count: false,
    });
  });

  it('checks the relation between the matched objects, trying every matching', () => {
    const req = {
      objects: [{ shape: 'circle' as const }, { shape: 'square' as const }],
      relation: { a: 0, rel: 'left of' as const, b: 1 },
    };
    expect(scoreT2I(req, [f('circle', 'red', 0.2, 0.5), f('square', 'red', 0.7, 0.5)])).toMatchObject({
      pass: true,
      relation: true,
    });
    expect(scoreT2I(req, [f('circle', 'red', 0.7, 0.5), f('square', 'red', 0.2, 0.5)])).toMatchObject({
      pass: false,
      objects: true,
      relation: false,
    });
    // Within the 0.1 threshold: not "left of".
    expect(scoreT2I(req, [f('circle', 'red', 0.45, 0.2), f('square', 'red', 0.5, 0.8)]).pass).toBe(false);
    // The first circle fails, the second one satisfies it.
    const two = [f('circle', 'red', 0.9, 0.5), f('square', 'red', 0.6, 0.5), f('circle', 'blue', 0.2, 0.5)];
    expect(scoreT2I(req, two)).toMatchObject({ pass: true, matched: [2, 1] });
  });
});

describe('failureOf', () => {
  const why = (req: T2IRequirement, found: FoundObject[]): string | undefined =>
    failureOf(req, found, scoreT2I(req, found));
  const pair: T2IRequirement = {
    objects: [
      { shape: 'circle', color: 'red' },
      { shape: 'square', color: 'blue' },
    ],
  };

  it('names the coarsest miss first', () => {
    expect(why(pair, [])).toBe('nothing');
    // two circles for a circle and a square: the square is missing, whatever the colours
    expect(why(pair, [f('circle', 'red', 0.2, 0.5), f('circle', 'blue', 0.7, 0.5)])).toBe('shape');
    // every colour and shape drawn, on the wrong objects
    expect(why(pair, [f('circle', 'blue', 0.2, 0.5), f('square', 'red', 0.7, 0.5)])).toBe('binding');
    // the shapes drawn, a named colour nowhere
    expect(why(pair, [f('circle', 'red', 0.2, 0.5), f('square', 'green', 0.7, 0.5)])).toBe('attribute');
    expect(why(pair, [f('circle', 'red', 0.2, 0.5), f('square', 'blue', 0.7, 0.5)])).toBeUndefined();
  });

  it('tells counts and relations apart', () => {
    const three: T2IRequirement = {
      objects: [{ shape: 'square' }, { shape: 'square' }, { shape: 'square' }],
      count: { shape: 'square', n: 3 },
    };
    const squares = [0.1, 0.4, 0.7, 0.9].map((x) => f('square', 'red', x, 0.5));
    expect(why(three, squares.slice(0, 2))).toBe('count');
    expect(why(three, squares)).toBe('count');
    expect(why(three, squares.slice(0, 3))).toBeUndefined();
    const left: T2IRequirement = {
      objects: [{ shape: 'circle' }, { shape: 'square' }],
      relation: { a: 0, rel: 'left of', b: 1 },
    };
    expect(why(left, [f('circle', 'red', 0.8, 0.5), f('square', 'red', 0.2, 0.5)])).toBe('relation');
  });
});
