import { fullCaption } from '../../../../nodes/data/shapes/captions';
import {
  captionPrompt,
  captionQuestion,
  captionSettles,
  sampleInstruction,
  vqaPrompt,
} from '../../../../nodes/data/shapes/instructions';
import { answerQuestion, QUESTION_KINDS } from '../../../../nodes/data/shapes/questions';
import { Rng } from '../../../../nodes/data/shapes/random';
import { sampleScene } from '../../../../nodes/data/shapes/sampler';

describe('instructions', () => {
  it('formats prompts as "q: … a:" with the short-answer suffix for questions', () => {
    expect(captionPrompt()).toBe('q: describe the image. a:');
    expect(vqaPrompt('what color is the circle?')).toBe(
      'q: what color is the circle? answer the question using a single word or phrase. a:',
    );
  });

  it('mixes full captions (35%) with questions, each answered correctly', () => {
    const rng = new Rng(12);
    let captions = 0;
    const n = 1000;
    for (let i = 0; i < n; i++) {
      const { scene } = sampleScene(rng);
      const ins = sampleInstruction(rng, scene);
      if (ins.kind === 'caption') {
        captions++;
        expect(ins.answer).toBe(fullCaption(scene));
        expect(ins.prompt).toBe(captionPrompt());
      } else {
        expect(answerQuestion(scene, ins.question)).toBe(ins.answer);
        expect(ins.prompt).toBe(vqaPrompt(ins.question));
      }
    }
    expect(captions / n).toBeCloseTo(0.35, 1);
  });

  it('asks questions the caption in the prompt settles, about every kind', () => {
    const rng = new Rng(5);
    const kinds = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const { scene } = sampleScene(rng);
      const ins = captionQuestion(rng, scene);
      if (!ins) continue;
      kinds.set(ins.kind, (kinds.get(ins.kind) ?? 0) + 1);
      const caption = fullCaption(scene);
      expect(ins.fromCaption).toBe(true);
      expect(ins.question.startsWith(`${caption}. `)).toBe(true);
      expect(ins.prompt).toBe(vqaPrompt(ins.question));
      const asked = ins.question.slice(caption.length + 2);
      expect(answerQuestion(scene, asked)).toBe(ins.answer);
      if (ins.kind === 'where') expect(scene.objects).toHaveLength(1);
      if (ins.kind === 'relation') {
        // only the axis the caption states: "left of" settles "right of", not "above"
        const horizontal = / (left of|right of) /.test(caption);
        expect(/ (left of|right of) /.test(asked)).toBe(horizontal);
      }
    }
    expect([...kinds.keys()].sort()).toEqual([...QUESTION_KINDS].sort());
  });

  it('knows which questions a full caption settles', () => {
    const scene = {
      background: 'black' as const,
      objects: [
        { shape: 'circle' as const, color: 'red' as const, size: 'small' as const, x: 0.2, y: 0.3 },
        { shape: 'square' as const, color: 'blue' as const, size: 'large' as const, x: 0.7, y: 0.5 },
      ],
    };
    expect(fullCaption(scene)).toBe('a small red circle left of a large blue square');
    const settles = (question: string): boolean =>
      captionSettles(scene, { kind: 'relation', question, answer: '' });
    expect(settles('is the square right of the circle?')).toBe(true);
    expect(settles('is the square above the circle?')).toBe(false);
    expect(settles('where is the circle?')).toBe(false);
    expect(settles('what shape is the blue object?')).toBe(true);
  });

  it('leaves the default instruction stream as it was when no caption questions are asked', () => {
    const a = new Rng(9);
    const b = new Rng(9);
    for (let i = 0; i < 200; i++) {
      const { scene } = sampleScene(new Rng(100 + i));
      expect(sampleInstruction(a, scene, 0.35, undefined, 1, 0)).toEqual(sampleInstruction(b, scene));
    }
  });
});
