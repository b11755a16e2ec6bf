import { Rng } from '../../../../nodes/data/shapes/random';
import {
  answerQuestion,
  formatQuestion,
  parseQuestion,
  QUESTION_KINDS,
  questionKind,
  questionsFor,
  sampleQuestion,
} from '../../../../nodes/data/shapes/questions';
import { sampleScene } from '../../../../nodes/data/shapes/sampler';
import type { Scene, SceneObject } from '../../../../nodes/data/shapes/world';

const o = (shape: SceneObject['shape'], color: SceneObject['color'], x: number, y: number): SceneObject => ({
  shape,
  color,
  size: 'small',
  x,
  y,
});
const scene = (...objects: SceneObject[]): Scene => ({ background: 'black', objects });

describe('questions', () => {
  it('reads every form of the issue', () => {
    expect(parseQuestion('what color is the circle?')).toEqual({ kind: 'what_color', shape: 'circle' });
    expect(parseQuestion('What shape is the red object?')).toEqual({ kind: 'what_shape', color: 'red' });
    expect(parseQuestion(' how many squares are there? ')).toEqual({ kind: 'how_many', shape: 'square' });
    expect(parseQuestion('is there a purple triangle?')).toEqual({
      kind: 'is_there',
      color: 'purple',
      shape: 'triangle',
    });
    expect(parseQuestion('where is the square?')).toEqual({ kind: 'where', shape: 'square' });
    expect(parseQuestion('is the circle left of the square?')).toEqual({
      kind: 'relation',
      a: 'circle',
      rel: 'left of',
      b: 'square',
    });
    expect(parseQuestion('is the circle near the square?')).toBeUndefined();
    expect(questionKind('what color is the hexagon?')).toBeUndefined();
    for (const q of [
      'what color is the circle?',
      'is the circle below the square?',
      'how many triangles are there?',
    ]) {
      expect(formatQuestion(parseQuestion(q)!)).toBe(q);
    }
  });

  it('answers by the rules and refuses ambiguous questions', () => {
    const s = scene(
      o('circle', 'red', 0.2, 0.5),
      o('square', 'blue', 0.8, 0.5),
      o('square', 'red', 0.5, 0.2),
    );
    expect(answerQuestion(s, 'what color is the circle?')).toBe('red');
    expect(answerQuestion(s, 'what color is the square?')).toBeUndefined(); // two squares
    expect(answerQuestion(s, 'what shape is the blue object?')).toBe('square');
    expect(answerQuestion(s, 'what shape is the red object?')).toBeUndefined(); // two red objects
    expect(answerQuestion(s, 'how many squares are there?')).toBe('two');
    expect(answerQuestion(s, 'how many triangles are there?')).toBeUndefined(); // answers are one…four
    expect(answerQuestion(s, 'is there a red square?')).toBe('yes');
    expect(answerQuestion(s, 'is there a blue circle?')).toBe('no');
    expect(answerQuestion(s, 'where is the circle?')).toBe('left');
    expect(
      answerQuestion(
        scene(o('circle', 'red', 0.2, 0.5), o('triangle', 'red', 0.8, 0.3)),
        'is the circle left of the triangle?',
      ),
    ).toBe('yes');
    expect(
      answerQuestion(
        scene(o('circle', 'red', 0.2, 0.5), o('triangle', 'red', 0.8, 0.3)),
        'is the circle above the triangle?',
      ),
    ).toBe('no');
    // Within the margin of the threshold: not asked.
    const close = scene(o('circle', 'red', 0.2, 0.5), o('triangle', 'red', 0.31, 0.2));
    expect(answerQuestion(close, 'is the circle left of the triangle?', 0.02)).toBeUndefined();
    expect(answerQuestion(close, 'is the circle left of the triangle?')).toBe('yes');
  });

  it('lists only questions whose stated answer the rules give', () => {
    const rng = new Rng(4);
    const kinds = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const { scene: s } = sampleScene(rng);
      for (const qa of questionsFor(s)) {
        kinds.add(qa.kind);
        expect(answerQuestion(s, qa.question)).toBe(qa.answer);
        expect(questionKind(qa.question)).toBe(qa.kind);
      }
    }
    expect([...kinds].sort()).toEqual([...QUESTION_KINDS].sort());
  });

  it('samples every kind with yes and no balanced', () => {
    const rng = new Rng(8);
    const byKind = new Map<string, string[]>();
    for (let i = 0; i < 1500; i++) {
      const qa = sampleQuestion(rng, sampleScene(rng).scene);
      if (!qa) continue;
      byKind.set(qa.kind, [...(byKind.get(qa.kind) ?? []), qa.answer]);
    }
    for (const k of QUESTION_KINDS) expect(byKind.get(k)!.length).toBeGreaterThan(100);
    for (const k of ['is_there', 'relation']) {
      const answers = byKind.get(k)!;
      expect(answers.filter((a) => a === 'yes').length / answers.length).toBeCloseTo(0.5, 1);
    }
  });
});
