import * as fs from 'fs';
import * as path from 'path';
import { defineNode, type ApiPrompt, type EngineEvent } from '../../../server/engine';
import { initRuntime } from '../../../server/runtime';
import { tf } from '../../../server/runtime/tf';
import { loadCheckpoint } from '../../../nodes/ddit/checkpoint';
import { readCheckpoint } from '../../../nodes/training/checkpoint';
import type { Objective } from '../../../nodes/training/objective';
import { tinyModels, type TinyModels } from '../../helpers/tiny-ddit';
import { eventsOf, tinyEngine, useTinyModels } from '../../helpers/tiny-nodes';
import { writePairs } from './fixtures';

let m: TinyModels;
let dataDir: string;

beforeAll(async () => {
  await initRuntime({ backend: 'wasm', threads: 1 });
  m = tinyModels(1);
  useTinyModels(m);
  dataDir = writePairs(m.imageSize);
});
afterAll(() => m.dispose());

/** Makes the text loss NaN from its `from`-th micro-batch on (a diverging run). */
const TestPoisonLoss = defineNode({
  type: 'TestPoisonLoss',
  category: 'test',
  description: 'Wraps a LOSS so that its text term turns NaN after a while.',
  inputs: { loss: { type: 'LOSS' }, from: { type: 'INT', default: 3 } },
  outputs: { loss: { type: 'LOSS' } },
  run: ({ loss, from }) => {
    let calls = 0;
    const o = loss as Objective;
    return {
      loss: {
        terms: o.terms.map(({ term, weight }) => ({
          weight,
          term: {
            key: term.key,
            cursor: term.cursor,
            prepare: async (rng, live) => {
              const p = await term.prepare(rng, live);
              if (term.key !== 'txt' || ++calls < from) return p;
              return { ...p, loss: (l) => tf.mul(p.loss(l), NaN) as tf.Scalar };
            },
          } satisfies Objective['terms'][number]['term'],
        })),
      } satisfies Objective,
    };
  },
});

function trainGraph(run: string, over: Record<string, Record<string, unknown>> = {}): ApiPrompt {
  const g: ApiPrompt = {
    '1': { class_type: 'TestTinyModels', inputs: {} },
    '2': { class_type: 'ImageTextDataset', inputs: { path: dataDir, resolution: m.imageSize } },
    '3': {
      class_type: 'BatchIterator',
      inputs: { dataset: ['2', 0], batch_size: 2, seed: 1, shuffle: true },
    },
    '4': {
      class_type: 'BatchIterator',
      inputs: { dataset: ['2', 0], batch_size: 2, seed: 2, shuffle: true },
    },
    '5': {
      class_type: 'FlowMatchingLoss',
      inputs: { batches: ['3', 0], vae: ['1', 1], tokenizer: ['1', 3], text_length: 8, cfg_dropout: 0.1 },
    },
    '6': {
      class_type: 'MaskedDiffusionLoss',
      inputs: { batches: ['4', 0], vae: ['1', 1], tokenizer: ['1', 3], text_length: 8 },
    },
    '7': {
      class_type: 'DualDiffusionLoss',
      inputs: { image_loss: ['5', 0], text_loss: ['6', 0], text_weight: 0.2 },
    },
    '8': { class_type: 'AdamW', inputs: { lr: 1e-3, warmup_steps: 2 } },
    '9': { class_type: 'EMA', inputs: { decay: 0.9, start_step: 0 } },
    '10': {
      class_type: 'OptimizerStep',
      inputs: {
        model: ['1', 0],
        text_encoder: ['1', 2],
        loss: ['7', 0],
        optimizer: ['8', 0],
        ema: ['9', 0],
        run_name: run,
        max_steps: 100,
        accumulation: 1,
        train_text_encoder: 'frozen',
        seed: 5,
      },
    },
    '11': { class_type: 'SaveCheckpoint', inputs: { state: ['10', 0], every: 2, export_model: false } },
  };
  for (const [id, inputs] of Object.entries(over)) Object.assign(g[id].inputs, inputs);
  return g;
}

interface Run {
  status: string;
  message?: string;
  metrics: Array<Record<string, unknown>>;
  events: EngineEvent[];
  iterations: number;
}

async function train(
  folder: { engine: ReturnType<typeof tinyEngine>['engine'] },
  prompt: ApiPrompt,
  iterations: number,
  onEvent?: (e: EngineEvent) => void,
  signal?: AbortSignal,
): Promise<Run> {
  const events: EngineEvent[] = [];
  const res = await folder.engine.execute(prompt, {
    extra: { loop: { iterations } },
    signal,
    onEvent: (e) => {
      events.push(e);
      onEvent?.(e);
    },
  });
  return {
    status: res.status,
    message: res.error?.message,
    metrics: eventsOf(events, 'ddit.train_metrics'),
    events,
    iterations: res.iterations,
  };
}

const trace = (ms: Array<Record<string, unknown>>) =>
  ms.map((x) => [x.step, x.loss, x.loss_img, x.loss_txt, x.grad_norm]);

/** A second engine on the same folders: a new process as far as node state and caches go. */
function sameFolders(folder: string): ReturnType<typeof tinyEngine> {
  const e = tinyEngine();
  (e.engine as unknown as { folders: { output: string; input: string; temp: string } }).folders.output =
    folder;
  return { engine: e.engine, folder };
}

describe('training workflow (looped)', () => {
  let straight: Run;
  let folder: string;

  beforeAll(async () => {
    const e = tinyEngine();
    folder = e.folder;
    straight = await train(e, trainGraph('straight'), 5);
  });

  it('runs one optimiser step per iteration and reports metrics', () => {
    expect(straight.status).toBe('success');
    expect(straight.metrics.map((x) => x.step)).toEqual([1, 2, 3, 4, 5]);
    for (const x of straight.metrics) {
      for (const k of ['loss', 'loss_img', 'loss_txt', 'lr', 'grad_norm', 'samples_per_s']) {
        expect(typeof x[k]).toBe('number');
        expect(Number.isFinite(x[k] as number)).toBe(true);
      }
    }
    expect(straight.metrics.map((x) => x.lr)).toEqual([0, 5e-4, 1e-3, 1e-3, 1e-3]);
    const ck = readCheckpoint(path.join(folder, 'training', 'straight', 'checkpoint.safetensors'));
    expect(ck.meta.step).toBe(5); // every 2 steps and at the end of the loop
    for (const t of Object.values(ck.tensors)) t.dispose();
  });

  it('resumes a run started again on its folder, step for step', async () => {
    const e1 = tinyEngine();
    const a = await train(e1, trainGraph('split'), 3);
    expect(a.metrics.map((x) => x.step)).toEqual([1, 2, 3]);
    const b = await train(sameFolders(e1.folder), trainGraph('split'), 2);
    expect(b.metrics.map((x) => x.step)).toEqual([4, 5]);
    expect(trace([...a.metrics, ...b.metrics])).toEqual(trace(straight.metrics));
  });

  it('decays the rate to the end of the run, and a resumed run picks the schedule up at its step', async () => {
    const linear = { '8': { schedule: 'linear', min_lr: 1e-4 }, '10': { max_steps: 5 } };
    const e = tinyEngine();
    const a = await train(e, trainGraph('decayed', linear), 3);
    const b = await train(sameFolders(e.folder), trainGraph('decayed', linear), 5);
    // Warm-up over 2 steps, then from 1e-3 at k = 2 to 1e-4 at k = max_steps = 5.
    const lrs = [...a.metrics, ...b.metrics].map((x) => x.lr as number);
    [0, 5e-4, 1e-3, 7e-4, 4e-4].forEach((want, i) => expect(lrs[i]).toBeCloseTo(want, 12));
    expect(b.iterations).toBe(2);
  });

  it("weighs each text sequence by its content length with normalize 'content'", async () => {
    const r = await train(tinyEngine(), trainGraph('content', { '6': { normalize: 'content' } }), 1);
    expect(r.status).toBe('success');
    const [a, b] = [straight.metrics[0], r.metrics[0]];
    // same batches and draws: the image term is untouched, the text term only grows (counts ≤ M)
    expect(b.loss_img).toBe(a.loss_img);
    expect(b.loss_txt as number).toBeGreaterThan(a.loss_txt as number);
  });

  it('names the optimizer input that makes a schedule impossible', async () => {
    const r = await train(
      tinyEngine(),
      trainGraph('bad-decay', { '8': { schedule: 'cosine', decay_steps: 2 } }),
      1,
    );
    expect(r.status).toBe('error');
    expect(r.message).toMatch(/AdamW: input 'decay_steps' \(2\) must be above warmup_steps \(2\)/);
    const floor = await train(
      tinyEngine(),
      trainGraph('bad-floor', { '8': { schedule: 'cosine', min_lr: 0.5 } }),
      1,
    );
    expect(floor.message).toMatch(/AdamW: input 'min_lr' \(0.5\) must not exceed lr/);
  });

  it('stops the loop at max_steps', async () => {
    const e = tinyEngine();
    const r = await train(e, trainGraph('capped', { '10': { max_steps: 2 } }), 10);
    expect(r.status).toBe('success');
    expect(r.iterations).toBe(2);
    expect(eventsOf(r.events, 'ddit.loop').pop()).toMatchObject({ stopped: 'capped reached max_steps 2' });
    const again = await train(sameFolders(e.folder), trainGraph('capped', { '10': { max_steps: 2 } }), 10);
    expect(again.metrics).toEqual([]);
    expect(again.iterations).toBe(1);
  });

  it('saves the last completed step when interrupted, and continues from it', async () => {
    const e = tinyEngine();
    const controller = new AbortController();
    const r = await train(
      e,
      trainGraph('interrupted'),
      10,
      (ev) => {
        if (ev.type === 'ddit.train_metrics' && (ev.data as unknown as { step: number }).step === 3)
          controller.abort();
      },
      controller.signal,
    );
    expect(r.status).toBe('interrupted');
    const file = path.join(e.folder, 'training', 'interrupted', 'checkpoint.safetensors');
    const ck = readCheckpoint(file);
    expect(ck.meta.step).toBe(3);
    for (const t of Object.values(ck.tensors)) t.dispose();
    const b = await train(sameFolders(e.folder), trainGraph('interrupted'), 2);
    expect(trace(b.metrics)).toEqual(trace(straight.metrics.slice(3, 5)));
  });

  it('stops on a non-finite loss with a clear error and keeps the last good checkpoint', async () => {
    const e = tinyEngine([TestPoisonLoss]);
    const g = trainGraph('diverged');
    g['12'] = { class_type: 'TestPoisonLoss', inputs: { loss: ['7', 0], from: 3 } };
    g['10'].inputs.loss = ['12', 0];
    const r = await train(e, g, 10);
    expect(r.status).toBe('error');
    expect(r.message).toMatch(
      /OptimizerStep: training stopped at step 3: the loss is NaN \(loss_img=[0-9.e-]+, loss_txt=NaN\); the last good checkpoint \(step 2\) is kept at .*diverged.checkpoint\.safetensors/,
    );
    expect(r.metrics.map((x) => x.step)).toEqual([1, 2]);
    const ck = readCheckpoint(path.join(e.folder, 'training', 'diverged', 'checkpoint.safetensors'));
    expect(ck.meta.step).toBe(2);
    for (const t of Object.values(ck.tensors)) t.dispose();
  });

  it('exports a model checkpoint that LoadCheckpoint reads', async () => {
    const e = tinyEngine();
    const models = path.join(e.folder, 'models');
    (e.engine as unknown as { folders: { models: string } }).folders.models = models;
    const r = await train(
      e,
      trainGraph('exported', { '11': { export_model: true, export_name: 'tiny/trained.safetensors' } }),
      2,
    );
    expect(r.status).toBe('success');
    const file = path.join(models, 'tiny', 'trained.safetensors');
    expect(fs.existsSync(file)).toBe(true);
    const ck = loadCheckpoint(file);
    expect(ck.transformer!.config.vocab_size).toBe(m.tokenizer.vocabSize);
    expect(ck.tokenizer!.maskId).toBe(m.tokenizer.maskId);
    expect(ck.vae).toBeDefined();
    expect(ck.textEncoder).toBeDefined();
    for (const part of [ck.transformer, ck.vae, ck.textEncoder]) part?.dispose();
  });
});
