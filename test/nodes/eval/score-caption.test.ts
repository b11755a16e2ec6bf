import { fullCaption } from '../../../nodes/data/shapes/captions';
import { Rng } from '../../../nodes/data/shapes/random';
import { sampleScene } from '../../../nodes/data/shapes/sampler';
import type { Scene, SceneObject } from '../../../nodes/data/shapes/world';
import { scoreCaption } from '../../../nodes/eval/score-caption';
import { normalizeAnswer, scoreVqa } from '../../../nodes/eval/score-vqa';

const o = (
  shape: SceneObject['shape'],
  color: SceneObject['color'],
  size: SceneObject['size'],
  x: number,
  y: number,
): SceneObject => ({ shape, color, size, x, y });
const scene = (...objects: SceneObject[]): Scene => ({ background: 'black', objects });

describe('scoreCaption', () => {
  it('finds every full caption an exact description of its scene', () => {
    const rng = new Rng(21);
    for (let i = 0; i < 400; i++) {
      const { scene: s } = sampleScene(rng);
      const r = scoreCaption(s, fullCaption(s));
      expect(r.exact).toBe(true);
      expect(r.attributes.count).toBe(1);
      expect(r.attributes.shape).toBe(1);
      expect(r.attributes.color).toBe(1);
    }
  });

  const pair = scene(o('circle', 'red', 'small', 0.2, 0.5), o('triangle', 'white', 'large', 0.7, 0.5));

  it('accepts any true caption that names every shape and colour', () => {
    expect(scoreCaption(pair, 'a red circle left of a white triangle').exact).toBe(true);
    expect(scoreCaption(pair, 'a white triangle right of a red circle').exact).toBe(true);
    expect(scoreCaption(pair, 'a white triangle and a red circle').exact).toBe(true);
    expect(scoreCaption(pair, 'a large white triangle on the right and a small red circle').exact).toBe(true);
  });

  it('rejects captions that miss a colour, an object, or state something false', () => {
    expect(scoreCaption(pair, 'a circle and a white triangle')).toMatchObject({
      exact: false,
      attributes: { color: 0.5, shape: 1 },
    });
    expect(scoreCaption(pair, 'a red circle')).toMatchObject({
      exact: false,
      attributes: { count: 0, shape: 0.5, color: 0.5 },
    });
    expect(scoreCaption(pair, 'a white circle and a red triangle')).toMatchObject({
      exact: false,
      attributes: { shape: 1, color: 1 },
    });
    expect(scoreCaption(pair, 'a red circle right of a white triangle')).toMatchObject({
      exact: false,
      attributes: { position: 0 },
    });
    expect(scoreCaption(pair, 'a large red circle left of a white triangle')).toMatchObject({
      exact: false,
      attributes: { size: 0 },
    });
    expect(scoreCaption(pair, 'a red circle, a white triangle and a blue square')).toMatchObject({
      exact: false,
      attributes: { count: 0 },
    });
    expect(scoreCaption(pair, '').exact).toBe(false);
  });

  it('scores groups and positions', () => {
    const three = scene(
      o('square', 'blue', 'small', 0.2, 0.2),
      o('square', 'blue', 'small', 0.5, 0.5),
      o('square', 'blue', 'small', 0.8, 0.8),
    );
    expect(scoreCaption(three, 'three blue squares').exact).toBe(true);
    expect(scoreCaption(three, 'two blue squares')).toMatchObject({
      exact: false,
      attributes: { count: 0, shape: 2 / 3 },
    });
    const one = scene(o('circle', 'green', 'large', 0.5, 0.85));
    expect(scoreCaption(one, 'a green circle at the bottom').exact).toBe(true);
    expect(scoreCaption(one, 'a green circle at the top')).toMatchObject({
      exact: false,
      attributes: { position: 0 },
    });
  });
});

describe('scoreVqa', () => {
  it('matches exactly after lower-casing and trimming', () => {
    expect(scoreVqa(' Red\n', 'red')).toBe(true);
    expect(scoreVqa('red.', 'red')).toBe(false);
    expect(scoreVqa('two', '2')).toBe(false);
    expect(normalizeAnswer('  YES ')).toBe('yes');
  });
});
