import { fullCaption } from '../../../../nodes/data/shapes/captions';
import { captionPrompt, sampleInstruction, vqaPrompt } from '../../../../nodes/data/shapes/instructions';
import { answerQuestion } from '../../../../nodes/data/shapes/questions';
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
});
