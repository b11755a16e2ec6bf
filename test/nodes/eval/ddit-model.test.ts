/**
 * The evaluation's D-DiT model on the bundled checkpoint: an item gives what the shipped workflow gives for
 * the same image (or prompt) and seed, and batching items changes nothing.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PNG } from 'pngjs';
import { applyOverrides, createEngine } from '../../../server/engine';
import { initRuntime } from '../../../server/runtime';
import { loadCheckpoint } from '../../../nodes/ddit/checkpoint';
import { fromUint8, renderScene, toUint8, type RgbImage } from '../../../nodes/data/shapes/render';
import { dditEvalModel, type DDiTParts } from '../../../nodes/eval/ddit-model';
import {
  readSamplerSettings,
  WORKFLOWS_DIR,
  type SamplerSettings,
} from '../../../nodes/eval/sampler-settings';
import type { ItemContext } from '../../../nodes/eval/run-eval';
import { silentLog } from '../../helpers/tiny-nodes';

const MODELS = path.resolve(__dirname, '..', '..', '..', 'models');
const CKPT = path.join(MODELS, 'ddit-shapes.safetensors');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-eval-model-'));
const saved = { cache: process.env.DDIT_ONNX_CACHE, input: process.env.DDIT_INPUT_DIR };
const input = path.join(tmp, 'input');
let parts: DDiTParts;
let settings: SamplerSettings;

beforeAll(async () => {
  process.env.DDIT_ONNX_CACHE = path.join(tmp, 'onnx');
  // the LoadImage choices list this folder
  process.env.DDIT_INPUT_DIR = input;
  await initRuntime();
  parts = loadCheckpoint(CKPT);
  settings = readSamplerSettings();
});
afterAll(() => {
  for (const [k, v] of [
    ['DDIT_ONNX_CACHE', saved.cache],
    ['DDIT_INPUT_DIR', saved.input],
  ] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  parts?.transformer.dispose();
  parts?.vae.dispose();
  parts?.textEncoder.dispose();
});

/** A render as it arrives from a PNG (8-bit), so the workflow's LoadImage and the eval see the same pixels. */
function scene(i: number): RgbImage {
  const img = renderScene({
    background: 'black',
    objects: [
      {
        shape: (['circle', 'square', 'triangle'] as const)[i % 3],
        color: 'red',
        size: 'large',
        x: 0.3,
        y: 0.5,
      },
      {
        shape: 'square',
        color: (['blue', 'white', 'green'] as const)[i % 3],
        size: 'small',
        x: 0.75,
        y: 0.3,
      },
    ],
  });
  return fromUint8(toUint8(img), img.width, img.height);
}

function writePng(img: RgbImage, file: string): void {
  const png = new PNG({ width: img.width, height: img.height });
  const rgb = toUint8(img);
  for (let i = 0; i < img.width * img.height; i++) {
    png.data[i * 4] = rgb[i * 3];
    png.data[i * 4 + 1] = rgb[i * 3 + 1];
    png.data[i * 4 + 2] = rgb[i * 3 + 2];
    png.data[i * 4 + 3] = 255;
  }
  fs.writeFileSync(file, PNG.sync.write(png));
}

const ctxs = (seeds: number[]): ItemContext[] => seeds.map((seed, i) => ({ id: `item-${i}`, seed }));

describe('the D-DiT eval model on the bundled checkpoint', () => {
  it('gives what the shipped workflows give for the same image, question, prompt and seed', async () => {
    const output = path.join(tmp, 'output');
    fs.mkdirSync(input, { recursive: true });
    const image = scene(1);
    writePng(image, path.join(input, 'scene.png'));
    const engine = createEngine({ folders: { models: MODELS, input, output }, log: silentLog });
    const workflow = (name: string, over: Record<string, unknown>) =>
      applyOverrides(JSON.parse(fs.readFileSync(path.join(WORKFLOWS_DIR, name), 'utf8')), over);
    const seed = 1234567;
    const model = dditEvalModel(parts, { settings });
    try {
      const cap = await engine.execute(workflow('caption.json', { '2.image': 'scene.png', '3.seed': seed }));
      expect(cap.error?.message ?? cap.status).toBe('success');
      const [caption] = await model.captionBatch!([image], ctxs([seed]));
      expect(caption).toBe(cap.outputs['4'].text?.[0]);

      // sampled, and read by the workflow's question reader
      for (const question of ['what color is the square?', 'is the circle left of the square?']) {
        const vqa = await engine.execute(
          workflow('vqa.json', { '2.image': 'scene.png', '3.question': question, '3.seed': seed }),
        );
        expect(vqa.error?.message ?? vqa.status).toBe('success');
        const [answer] = await model.answerBatch!([{ image, question }], ctxs([seed]));
        expect(answer).toBe(vqa.outputs['4'].text?.[0]);
      }

      const prompt = 'a red circle left of a blue square';
      const t2i = await engine.execute(
        workflow('text-to-image.json', { '2.text': prompt, '7.seed': seed, '10.seed': seed }),
      );
      expect(t2i.error?.message ?? t2i.status).toBe('success');
      const saved = PNG.sync.read(fs.readFileSync(path.join(output, t2i.outputs['9'].images![0].filename)));
      const [generated] = await model.textToImageBatch!([prompt], ctxs([seed]));
      const bytes = toUint8(generated);
      let worst = 0;
      for (let i = 0; i < generated.width * generated.height; i++)
        for (let c = 0; c < 3; c++)
          worst = Math.max(worst, Math.abs(bytes[i * 3 + c] - saved.data[i * 4 + c]));
      expect(worst).toBeLessThanOrEqual(1);
    } finally {
      model.dispose();
    }
  });

  it('samples each item of a batch as it samples that item alone', async () => {
    const quick: SamplerSettings = {
      ...settings,
      t2i: { ...settings.t2i, steps: 4 },
      caption: { ...settings.caption, steps: 4 },
    };
    const model = dditEvalModel(parts, { settings: quick });
    const seeds = [5, 6, 7];
    const images = seeds.map((_, i) => scene(i));
    // the last is read by the shipped reader, the others sampled
    const questions = [
      'what color is the square?',
      'how many squares are there?',
      'is the triangle left of the square?',
    ];
    const prompts = ['a red circle', 'two blue squares', 'a green triangle above a white circle'];
    try {
      const alone = { caption: [] as string[], answer: [] as string[], images: [] as RgbImage[] };
      for (let i = 0; i < seeds.length; i++) {
        const c = ctxs([seeds[i]]);
        alone.caption.push(...(await model.captionBatch!([images[i]], c)));
        alone.answer.push(...(await model.answerBatch!([{ image: images[i], question: questions[i] }], c)));
        alone.images.push(...(await model.textToImageBatch!([prompts[i]], c)));
      }
      const c = ctxs(seeds);
      expect(await model.captionBatch!(images, c)).toEqual(alone.caption);
      expect(
        await model.answerBatch!(
          images.map((image, i) => ({ image, question: questions[i] })),
          c,
        ),
      ).toEqual(alone.answer);
      const batch = await model.textToImageBatch!(prompts, c);
      batch.forEach((img, i) => {
        let worst = 0;
        for (let k = 0; k < img.data.length; k++)
          worst = Math.max(worst, Math.abs(img.data[k] - alone.images[i].data[k]));
        expect(worst).toBeLessThan(1e-3);
      });
      // different seeds, different images
      expect(batch[0].data).not.toEqual(batch[1].data);
    } finally {
      model.dispose();
    }
  });
});
