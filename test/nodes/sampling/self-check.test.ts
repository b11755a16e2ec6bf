/**
 * Self-check on the bundled checkpoint: the model's text head prefers the render that fits the prompt, and
 * SelfCheckSelect keeps it in a workflow.
 */
import type { ApiPrompt } from '../../../server/engine';
import { tf } from '../../../server/runtime/tf';
import { inferenceModel } from '../../../nodes/ddit/inference';
import { renderScene } from '../../../nodes/data/shapes/render';
import { rgbBatch } from '../../../nodes/eval/ddit-model';
import type { Scene } from '../../../nodes/data/shapes/world';
import { PROMPT_READERS } from '../../../nodes/sampling/prompt-readers';
import { bestOfEach, selfCheck, type SelfCheckSettings } from '../../../nodes/sampling/self-check';
import { SELF_CHECK_DEFAULTS } from '../../../nodes/sampling/self-check-node';
import { asModel, asTextEncoder, asVae } from '../../../nodes/sampling/values';
import { checkpointLinks, sceneOf, shapeObject, useBundledCheckpoint } from '../../helpers/bundled-model';

const bundled = useBundledCheckpoint('ddit-self-check-');
const obj = shapeObject;
const scene = sceneOf;

function images(scenes: Scene[]): tf.Tensor4D {
  return rgbBatch(scenes.map((s) => renderScene(s)));
}

const settings: SelfCheckSettings = {
  promptFormat: SELF_CHECK_DEFAULTS.prompt_format,
  vizwiz: false,
  answerLength: SELF_CHECK_DEFAULTS.answer_length,
  captionPrompt: SELF_CHECK_DEFAULTS.caption_prompt,
  captionLength: SELF_CHECK_DEFAULTS.caption_length,
  captionSteps: SELF_CHECK_DEFAULTS.caption_steps,
  captionTemperature: 0,
  captionWeight: SELF_CHECK_DEFAULTS.caption_weight,
};

async function check(prompt: string, scenes: Scene[], captionWeight = settings.captionWeight) {
  const x = images(scenes);
  try {
    return await selfCheck({
      model: asModel(inferenceModel(bundled.ck.transformer), 'test'),
      encoder: asTextEncoder(inferenceModel(bundled.ck.textEncoder), 'test'),
      tokenizer: bundled.ck.tokenizer,
      vae: asVae(inferenceModel(bundled.ck.vae), 'test'),
      images: x,
      plans: scenes.map(() => PROMPT_READERS.shapes(prompt)),
      seeds: scenes.map((_, k) => 11 + k),
      settings: { ...settings, captionWeight },
      chunk: 5,
    });
  } finally {
    x.dispose();
  }
}

describe('selfCheck with the bundled model', () => {
  it('scores the render with the named colour and shape above the others', async () => {
    const res = await check('a red circle', [
      scene(obj('square', 'blue', 0.5)),
      scene(obj('circle', 'red', 0.5)),
      scene(obj('triangle', 'red', 0.5)),
    ]);
    expect(bestOfEach(res.scores, 3)).toEqual([1]);
    // no relation or place: no caption is read
    expect(res.captions).toEqual([undefined, undefined, undefined]);
    expect(res.scores).toEqual(res.answers);
    expect(res.infills).toEqual([0, 0, 0]);
  });

  it('prefers the pair that holds both named shapes', async () => {
    const res = await check('a square and a triangle', [
      scene(obj('triangle', 'white', 0.25), obj('triangle', 'yellow', 0.75)),
      scene(obj('square', 'white', 0.25), obj('triangle', 'yellow', 0.75)),
    ]);
    expect(res.scores[1]).toBeGreaterThan(res.scores[0]);
  });

  it('reads the relation from a caption of each candidate', async () => {
    const res = await check(
      'a red circle left of a blue square',
      [
        scene(obj('square', 'blue', 0.25), obj('circle', 'red', 0.75)),
        scene(obj('circle', 'red', 0.25), obj('square', 'blue', 0.75)),
      ],
      1,
    );
    expect(res.captions.every((c) => typeof c === 'string' && c.length > 0)).toBe(true);
    const claims = res.scores.map((s, k) => s - res.answers[k] - res.infills[k]);
    expect(claims[1]).toBeGreaterThan(claims[0]);
    // the relation in-fill alone also tells them apart
    expect(res.infills[1]).toBeGreaterThan(res.infills[0]);
    expect(bestOfEach(res.scores, 2)).toEqual([1]);
  });

  it('reads a vertical relation by in-filling "above"', async () => {
    const res = await check(
      'a white triangle below a yellow circle',
      [
        scene(obj('triangle', 'white', 0.5, 0.25), obj('circle', 'yellow', 0.5, 0.75)),
        scene(obj('circle', 'yellow', 0.5, 0.25), obj('triangle', 'white', 0.5, 0.75)),
      ],
      0,
    );
    expect(res.infills[1]).toBeGreaterThan(res.infills[0]);
    expect(res.captions).toEqual([undefined, undefined]);
  });

  it('gives the same scores whatever the rows per forward', async () => {
    const scenes = [scene(obj('circle', 'red', 0.5)), scene(obj('square', 'green', 0.3, 0.3))];
    const a = await check('a green square and a red circle', scenes, 0);
    const x = images(scenes);
    const b = await selfCheck({
      model: asModel(inferenceModel(bundled.ck.transformer), 'test'),
      encoder: asTextEncoder(inferenceModel(bundled.ck.textEncoder), 'test'),
      tokenizer: bundled.ck.tokenizer,
      vae: asVae(inferenceModel(bundled.ck.vae), 'test'),
      images: x,
      plans: scenes.map(() => PROMPT_READERS.shapes('a green square and a red circle')),
      seeds: [11, 12],
      settings: { ...settings, captionWeight: 0 },
      chunk: 64,
    });
    x.dispose();
    b.scores.forEach((s, k) => expect(s).toBeCloseTo(a.scores[k], 4));
  });

  it('names itself when the inputs do not line up', async () => {
    const x = images([scene(obj('circle', 'red', 0.5))]);
    await expect(
      selfCheck({
        model: asModel(inferenceModel(bundled.ck.transformer), 'test'),
        encoder: asTextEncoder(inferenceModel(bundled.ck.textEncoder), 'test'),
        tokenizer: bundled.ck.tokenizer,
        vae: asVae(inferenceModel(bundled.ck.vae), 'test'),
        images: x,
        plans: [],
        seeds: [1],
        settings,
        who: 'SelfCheckSelect',
      }),
    ).rejects.toThrow('SelfCheckSelect: 1 images, 0 plans and 1 seeds');
    x.dispose();
  });
});

describe('bestOfEach', () => {
  it('picks the first best of each group', () => {
    expect(bestOfEach([1, 3, 2, 5, 5, 0], 3)).toEqual([1, 0]);
    expect(() => bestOfEach([1, 2, 3], 2)).toThrow('do not split into groups of 2');
  });
});

describe('SelfCheckSelect in a workflow', () => {
  const workflow = (check: Record<string, unknown>): ApiPrompt => ({
    '1': { class_type: 'LoadCheckpoint', inputs: { ckpt_name: 'ddit-shapes.safetensors' } },
    '2': {
      class_type: 'RenderScene',
      inputs: {
        scene: JSON.stringify([scene(obj('triangle', 'green', 0.5)), scene(obj('square', 'yellow', 0.5))]),
        resolution: 32,
      },
    },
    '3': {
      class_type: 'TextEncode',
      inputs: { tokenizer: ['1', 3], text_encoder: ['1', 2], text: 'a yellow square', length: 32 },
    },
    '4': {
      class_type: 'SelfCheckSelect',
      inputs: {
        ...checkpointLinks('1'),
        images: ['2', 0],
        seed: 0,
        ...check,
      },
    },
    '5': { class_type: 'ShowText', inputs: { text: ['4', 2] } },
  });
  const engine = () => bundled.engine();

  it('keeps the candidate that fits the prompt of the linked conditioning', async () => {
    const res = await engine().execute(workflow({ positive: ['3', 0] }));
    expect(res.error?.message ?? res.status).toBe('success');
    expect(res.outputs['4'].text?.[0]).toMatch(/^kept candidate 1 of 2 \(score -?\d/);
    const report = JSON.parse(res.outputs['5'].text![0]) as { index: number; score: number }[];
    expect(report.map((r) => r.index)).toEqual([0, 1]);
    expect(report[1].score).toBeGreaterThan(report[0].score);
  });

  it('says which input is missing when there is no prompt', async () => {
    const res = await engine().execute(workflow({}));
    expect(res.status).toBe('error');
    expect(res.error?.message).toContain("SelfCheckSelect: no prompt to check against: link 'positive'");
  });
});
