import {
  fullCaption,
  listCaption,
  nounPhrase,
  sampleCaption,
  whereCaption,
} from '../../../../nodes/data/shapes/captions';
import { Rng } from '../../../../nodes/data/shapes/random';
import { sampleScene } from '../../../../nodes/data/shapes/sampler';
import type { Scene, SceneObject } from '../../../../nodes/data/shapes/world';

const o = (
  shape: SceneObject['shape'],
  color: SceneObject['color'],
  size: SceneObject['size'],
  x: number,
  y: number,
): SceneObject => ({ shape, color, size, x, y });
const scene = (...objects: SceneObject[]): Scene => ({ background: 'black', objects });

describe('captions', () => {
  it('writes noun phrases at every level of detail', () => {
    const c = o('circle', 'red', 'large', 0.2, 0.5);
    expect(nounPhrase(c, 1, { size: false, color: false })).toBe('a circle');
    expect(nounPhrase(c, 1, { size: false, color: true })).toBe('a red circle');
    expect(nounPhrase(c, 3, { size: false, color: true })).toBe('three red circles');
    expect(whereCaption(c, { size: true, color: true })).toBe('a large red circle on the left');
    expect(() => nounPhrase(c, 5, { size: false, color: false })).toThrow('count must be 1..4');
  });

  it('writes full captions: position, relation, counts and lists', () => {
    expect(fullCaption(scene(o('circle', 'red', 'large', 0.2, 0.5)))).toBe('a large red circle on the left');
    expect(fullCaption(scene(o('square', 'blue', 'small', 0.5, 0.85)))).toBe(
      'a small blue square at the bottom',
    );
    expect(
      fullCaption(scene(o('triangle', 'white', 'small', 0.8, 0.5), o('circle', 'red', 'small', 0.3, 0.45))),
    ).toBe('a small red circle left of a small white triangle');
    expect(
      fullCaption(scene(o('triangle', 'white', 'small', 0.5, 0.8), o('circle', 'red', 'small', 0.45, 0.2))),
    ).toBe('a small red circle above a small white triangle');
    const three = scene(
      o('square', 'blue', 'small', 0.2, 0.2),
      o('square', 'blue', 'small', 0.5, 0.5),
      o('square', 'blue', 'small', 0.8, 0.8),
    );
    expect(fullCaption(three)).toBe('three small blue squares');
    expect(listCaption(three, { size: false, color: true })).toBe('three blue squares');
    const mixed = scene(
      o('circle', 'red', 'small', 0.8, 0.2),
      o('square', 'blue', 'small', 0.2, 0.5),
      o('circle', 'red', 'small', 0.5, 0.8),
    );
    expect(fullCaption(mixed)).toBe('a small blue square and two small red circles');
    const four = scene(
      o('circle', 'red', 'small', 0.8, 0.2),
      o('square', 'blue', 'small', 0.2, 0.5),
      o('triangle', 'green', 'small', 0.5, 0.8),
      o('square', 'white', 'small', 0.5, 0.2),
    );
    expect(fullCaption(four)).toBe(
      'a small blue square, a small white square, a small green triangle and a small red circle',
    );
    expect(listCaption(four, { size: false, color: false })).toBe('two squares, a triangle and a circle');
  });

  it('samples every level, deterministically', () => {
    const draw = (seed: number): string[] => {
      const rng = new Rng(seed);
      return Array.from({ length: 300 }, () => sampleCaption(rng, sampleScene(rng).scene).level);
    };
    const levels = draw(3);
    expect(new Set(levels)).toEqual(new Set(['full', 'list', 'where', 'relation']));
    expect(levels.filter((l) => l === 'full').length / 300).toBeCloseTo(0.35, 1);
    expect(draw(3)).toEqual(levels);
  });
});
