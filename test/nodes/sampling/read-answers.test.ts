/**
 * Answering by reading on the bundled checkpoint: relation questions restated as caption in-fills, scored
 * by the text head, and AnswerQuestion with a reader in a workflow.
 */
import type { ApiPrompt, EngineEvent } from '../../../server/engine';
import { tf } from '../../../server/runtime/tf';
import { inferenceModel } from '../../../nodes/ddit/inference';
import { renderScene } from '../../../nodes/data/shapes/render';
import { rgbBatch } from '../../../nodes/eval/ddit-model';
import type { Scene } from '../../../nodes/data/shapes/world';
import { infillRow, readRows } from '../../../nodes/sampling/infill-reading';
import { QUESTION_READERS } from '../../../nodes/sampling/question-readers';
import { readAnswers, type AnswerOption } from '../../../nodes/sampling/read-answers';
import { CAPTION_PROMPT, VQA_PROMPT } from '../../../nodes/sampling/templates';
import { sampleTextBatch } from '../../../nodes/sampling/text-sampling';
import { generateEvalSet } from '../../../nodes/eval/generate-eval-set';
import { questionKind } from '../../../nodes/data/shapes/questions';
import { encodeRowsForText, questionTemplate } from '../../../nodes/sampling/text-tasks';
import { asModel, asTextEncoder, asVae } from '../../../nodes/sampling/values';
import { checkpointLinks, sceneOf, shapeObject, useBundledCheckpoint } from '../../helpers/bundled-model';
import { eventsOf } from '../../helpers/tiny-nodes';

const bundled = useBundledCheckpoint('ddit-read-answers-');
const obj = shapeObject;
const scene = sceneOf;
const format = { captionPrompt: CAPTION_PROMPT, captionLength: 32 };

const reader = () => ({
  model: asModel(inferenceModel(bundled.ck.transformer), 'test'),
  encoder: asTextEncoder(inferenceModel(bundled.ck.textEncoder), 'test'),
  tokenizer: bundled.ck.tokenizer,
  who: 'test',
});

async function latents(scenes: Scene[]): Promise<tf.Tensor4D> {
  const x = rgbBatch(scenes.map((s) => renderScene(s)));
  try {
    return await encodeRowsForText(
      'test',
      asVae(inferenceModel(bundled.ck.vae), 'test'),
      x,
      scenes.map((_, k) => 7 + k),
    );
  } finally {
    x.dispose();
  }
}

describe('readAnswers with the bundled model', () => {
  // four layouts of a circle and a square, each asked both ways round
  const layouts: [Scene, string, string][] = [
    [scene(obj('circle', 'red', 0.25, 0.5), obj('square', 'blue', 0.75, 0.5)), 'left of', 'right of'],
    [scene(obj('square', 'green', 0.25, 0.5), obj('circle', 'white', 0.75, 0.5)), 'right of', 'left of'],
    [scene(obj('circle', 'yellow', 0.5, 0.25), obj('square', 'purple', 0.5, 0.75)), 'above', 'below'],
    [scene(obj('square', 'red', 0.5, 0.25), obj('circle', 'green', 0.5, 0.75)), 'below', 'above'],
  ];

  it('answers relation questions from the scene, where the sampled answer follows the relation word', async () => {
    const set = generateEvalSet({ name: 'read-answers', seed: 5, t2i: 0, caption: 0, vqa: 480 });
    const items = set.vqa.filter((it) => questionKind(it.question) === 'relation');
    expect(items.length).toBeGreaterThanOrEqual(60);
    const z = await latents(items.map((it) => it.scene));
    try {
      const read = await readAnswers(
        reader(),
        z,
        items.map((it) => QUESTION_READERS.shapes(it.question)),
        format,
      );
      const sampled = await sampleTextBatch({
        ...reader(),
        latent: z,
        templates: items.map((it) =>
          questionTemplate(it.question, VQA_PROMPT, false, 32, bundled.ck.tokenizer),
        ),
        seeds: items.map((_, k) => k),
        steps: 8,
        temperature: 0,
      });
      const accuracy = (answers: (string | undefined)[]) =>
        answers.filter((a, k) => a === items[k].answer).length / items.length;
      const byReading = accuracy(read.map((r) => r?.answer));
      // yes and no are equally likely: chance is one half
      expect(byReading).toBeGreaterThanOrEqual(0.85);
      expect(byReading).toBeGreaterThan(accuracy(sampled) + 0.25);
    } finally {
      z.dispose();
    }
  });

  // options of two in-fills each: a horizontal and a vertical caption
  const twoFold = (): AnswerOption[] => {
    const [h, v] = [
      QUESTION_READERS.shapes('is the circle left of the square?')!,
      QUESTION_READERS.shapes('is the circle above the square?')!,
    ];
    return h.map((o, k) => ({ answer: o.answer, infills: [...o.infills, ...v[k].infills] }));
  };

  it("scores each option as the sum of its in-fills' log-probabilities", async () => {
    const [s] = layouts[0];
    const options = twoFold();
    const z = await latents([s]);
    try {
      const [read] = await readAnswers(reader(), z, [options], format);
      const rows = options.flatMap((o) =>
        o.infills.map((f) => ({ ...infillRow(f, format, bundled.ck.tokenizer, 'test'), image: 0 })),
      );
      const logp = await readRows(reader(), z, rows, format.captionLength);
      expect(read!.scores[0]).toBeCloseTo(logp[0] + logp[1], 4);
      expect(read!.scores[1]).toBeCloseTo(logp[2] + logp[3], 4);
    } finally {
      z.dispose();
    }
  });

  it('runs one forward per distinct in-fill: yes and no read other words of the same rows', async () => {
    const z = await latents([layouts[0][0]]);
    const r = reader();
    let forwards = 0;
    const counting = {
      ...r,
      chunk: 1,
      model: {
        ...r.model,
        forward: (...a: Parameters<typeof r.model.forward>) => (forwards++, r.model.forward(...a)),
      },
    };
    try {
      const [one] = await readAnswers(
        counting,
        z,
        [QUESTION_READERS.shapes('is the circle left of the square?')],
        format,
      );
      expect(forwards).toBe(1);
      expect(one!.scores).toHaveLength(2);
      forwards = 0;
      const [read] = await readAnswers(counting, z, [twoFold()], format);
      expect(forwards).toBe(2);
      const [alone] = await readAnswers(r, z, [twoFold()], format);
      alone!.scores.forEach((v, k) => expect(read!.scores[k]).toBeCloseTo(v, 4));
    } finally {
      z.dispose();
    }
  });

  it('leaves questions without a reading to the sampler, and keeps the first of equal options', async () => {
    const z = await latents([layouts[0][0], layouts[0][0]]);
    const same = QUESTION_READERS.shapes('is the circle left of the square?')![0];
    const tie: AnswerOption[] = [
      { answer: 'first', infills: same.infills },
      { answer: 'second', infills: same.infills },
    ];
    try {
      const read = await readAnswers(reader(), z, [undefined, tie], format);
      expect(read[0]).toBeUndefined();
      expect(read[1]?.answer).toBe('first');
      await expect(readAnswers(reader(), z, [undefined], format)).rejects.toThrow(
        'test: 2 images and 1 readings',
      );
    } finally {
      z.dispose();
    }
  });
});

describe('AnswerQuestion with a reader in a workflow', () => {
  const workflow = (question: string, reader: string, extra: Record<string, unknown> = {}): ApiPrompt => ({
    '1': { class_type: 'LoadCheckpoint', inputs: { ckpt_name: 'ddit-shapes.safetensors' } },
    '2': {
      class_type: 'RenderScene',
      inputs: { scene: JSON.stringify(layouts0()), resolution: 32 },
    },
    '3': {
      class_type: 'AnswerQuestion',
      inputs: {
        ...checkpointLinks('1'),
        image: ['2', 0],
        question,
        length: 32,
        steps: 8,
        temperature: 0,
        seed: 3,
        reader,
        ...extra,
      },
    },
    '4': { class_type: 'ShowText', inputs: { text: ['3', 0] } },
  });
  const layouts0 = () => scene(obj('square', 'green', 0.25, 0.5), obj('circle', 'white', 0.75, 0.5));
  const engine = () => bundled.engine();

  it('reads a relation question it can restate, says so and shows the answer in place', async () => {
    const events: EngineEvent[] = [];
    const res = await engine().execute(workflow('is the square right of the circle?', 'shapes'), {
      onEvent: (e) => events.push(e),
    });
    expect(res.error?.message ?? res.status).toBe('success');
    expect(res.outputs['4'].text).toEqual(['no']);
    expect(res.outputs['3'].text?.[0]).toMatch(/^read by the shapes reader: yes -\d+\.\d\d, no -\d+\.\d\d$/);
    // the editor's text panel: the empty answer slot, then the answer in it
    const states = eventsOf(events, 'ddit.text_state');
    expect(states.map((s) => s.step)).toEqual([0, 1]);
    expect(states[0].text).toMatch(/_ _ _$/);
    expect(states[1].text).toMatch(/ a : no <\/s>/);
    expect(events.filter((e) => e.type === 'progress').length).toBeGreaterThanOrEqual(1);
  });

  it('names caption_length when the captions do not fit it', async () => {
    const res = await engine().execute(
      workflow('is the square right of the circle?', 'shapes', { caption_length: 8 }),
    );
    expect(res.status).toBe('error');
    expect(res.error?.message).toContain(
      "AnswerQuestion: input 'caption_length' does not fit the caption in-fill 'a [MASK] [MASK] [MASK] left of",
    );
  });

  it('samples what the reader cannot restate, as with no reader', async () => {
    const q = 'what color is the circle?';
    const [withReader, without] = [
      await engine().execute(workflow(q, 'shapes')),
      await engine().execute(workflow(q, 'none')),
    ];
    expect(withReader.error?.message ?? withReader.status).toBe('success');
    expect(withReader.outputs['4'].text).toEqual(without.outputs['4'].text);
    expect(withReader.outputs['4'].text).toEqual(['white']);
    expect(withReader.outputs['3']).toBeUndefined();
  });
});
