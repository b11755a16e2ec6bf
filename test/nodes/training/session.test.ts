import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initRuntime } from '../../../server/runtime';
import { tf } from '../../../server/runtime/tf';
import { ADAMW_DEFAULTS, NonFiniteError } from '../../../nodes/training/adamw';
import { readCheckpoint } from '../../../nodes/training/checkpoint';
import type { LossTerm, Objective } from '../../../nodes/training/objective';
import { TrainingSession, type SessionOptions, type StepMetrics } from '../../../nodes/training/session';
import { BatchCursor } from '../../../nodes/training/batches';
import { loadInstructionDataset } from '../../../nodes/training/datasets';
import { MaskedDiffusionTerm } from '../../../nodes/training/objective';
import { loadTransformer } from '../../../nodes/ddit/checkpoint';
import { tinyModels, type TinyModels } from '../../helpers/tiny-ddit';
import { dualObjective, writePairs } from './fixtures';

let m: TinyModels;
let dataDir: string;

beforeAll(async () => {
  // Tiny models run fastest on one thread: their ops are too small to pay for thread synchronisation.
  await initRuntime({ backend: 'wasm', threads: 1 });
  m = tinyModels(0);
  dataDir = writePairs(m.imageSize);
});
afterAll(() => m.dispose());

function options(runDir: string, objective: Objective, over: Partial<SessionOptions> = {}): SessionOptions {
  return {
    model: m.model,
    encoder: m.encoder,
    objective,
    adamw: { ...ADAMW_DEFAULTS, lr: 1e-3, warmupSteps: 2 },
    ema: { decay: 0.9, startStep: 1 },
    runDir,
    accumulation: 2,
    textEncoder: 'mask_row',
    maskId: m.tokenizer.maskId,
    seed: 5,
    ...over,
  };
}

function tmpRun(): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-run-')), 'run');
}

/** Every trained tensor of a session, by name: weights, EMA and optimiser moments. */
function snapshot(s: TrainingSession): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const p of s.params) {
    out.set(`w:${p.name}`, p.variable.dataSync() as Float32Array);
    out.set(`m:${p.name}`, s.opt.m.get(p.name)!.dataSync() as Float32Array);
    out.set(`v:${p.name}`, s.opt.v.get(p.name)!.dataSync() as Float32Array);
    out.set(`e:${p.name}`, s.ema!.shadow.get(p.name)!.dataSync() as Float32Array);
  }
  return out;
}

async function steps(s: TrainingSession, n: number): Promise<StepMetrics[]> {
  const out: StepMetrics[] = [];
  for (let i = 0; i < n; i++) out.push(await s.trainStep());
  return out;
}

describe('training session', () => {
  it('resumes from a checkpoint onto the uninterrupted trajectory, bit for bit', async () => {
    const straight = TrainingSession.open(options(tmpRun(), dualObjective(m, dataDir).objective));
    const full = await steps(straight, 4);
    const end = snapshot(straight);
    straight.dispose();
    for (const x of full) {
      expect(Number.isFinite(x.loss)).toBe(true);
      expect(x.loss_img).not.toBeNull();
      expect(x.loss_txt).not.toBeNull();
    }
    expect(full.map((x) => x.lr)).toEqual([0, 5e-4, 1e-3, 1e-3]);

    const run = tmpRun();
    const first = TrainingSession.open(options(run, dualObjective(m, dataDir).objective));
    const a = await steps(first, 2);
    first.saveCheckpoint();
    first.dispose();
    // a new process: new data streams and loss objects, the same run folder
    const second = TrainingSession.open(options(run, dualObjective(m, dataDir).objective));
    expect(second.resumedFrom).toBe(2);
    const b = await steps(second, 2);
    const resumed = snapshot(second);
    second.dispose();

    expect([...a, ...b].map((x) => [x.step, x.loss, x.loss_img, x.loss_txt, x.grad_norm])).toEqual(
      full.map((x) => [x.step, x.loss, x.loss_img, x.loss_txt, x.grad_norm]),
    );
    expect([...resumed.keys()]).toEqual([...end.keys()]);
    for (const [k, v] of end) expect(Array.from(resumed.get(k)!)).toEqual(Array.from(v));
  });

  it('warm-starts from an exported model at its recorded step, and that run resumes bit for bit', async () => {
    const first = TrainingSession.open(options(tmpRun(), dualObjective(m, dataDir).objective));
    await steps(first, 3);
    const file = await first.exportModel();
    first.dispose();
    const exported = loadTransformer(file);
    try {
      expect(exported.trainedSteps).toBe(3);
      const exportedWeights = new Map(
        exported.namedParameters().map(([n, p]) => [`model.${n}`, Array.from(p.value.dataSync())]),
      );

      // without warm_start a run with no checkpoint starts at step 0, whatever the weights
      const cold = TrainingSession.open(
        options(tmpRun(), dualObjective(m, dataDir).objective, { model: exported }),
      );
      expect(cold.step).toBe(0);
      expect(cold.warmStartedFrom).toBeNull();
      cold.dispose();

      const opts = (run: string): SessionOptions =>
        options(run, dualObjective(m, dataDir).objective, { model: exported, warmStart: true });
      const straightRun = tmpRun();
      const straight = TrainingSession.open(opts(straightRun));
      expect(straight.warmStartedFrom).toBe(3);
      expect(straight.resumedFrom).toBeNull();
      // the EMA starts from the exported weights
      for (const [name, shadow] of straight.ema!.shadow) {
        if (exportedWeights.has(name))
          expect(Array.from(shadow.dataSync())).toEqual(exportedWeights.get(name));
      }
      const full = await steps(straight, 4);
      const end = snapshot(straight);
      straight.dispose();
      expect(full.map((x) => x.step)).toEqual([4, 5, 6, 7]);
      // the constant schedule at 1e-3, ramped up again over the 2 warm-up steps from the warm start
      expect(full.map((x) => x.lr)).toEqual([0, 5e-4, 1e-3, 1e-3]);
      for (const x of full) expect(Number.isFinite(x.loss)).toBe(true);

      const run = tmpRun();
      const a = TrainingSession.open(opts(run));
      const part1 = await steps(a, 2);
      a.saveCheckpoint();
      a.dispose();
      const saved = readCheckpoint(path.join(run, 'checkpoint.safetensors'));
      tf.dispose(Object.values(saved.tensors));
      expect(saved.meta.optimizer).toEqual({ stepsTaken: 5, momentsSince: 3 });
      const b = TrainingSession.open(opts(run));
      expect(b.resumedFrom).toBe(5);
      expect(b.warmStartedFrom).toBeNull();
      const part2 = await steps(b, 2);
      const resumed = snapshot(b);
      b.dispose();
      expect([...part1, ...part2].map((x) => [x.step, x.lr, x.loss, x.grad_norm])).toEqual(
        full.map((x) => [x.step, x.lr, x.loss, x.grad_norm]),
      );
      for (const [k, v] of end) expect(Array.from(resumed.get(k)!)).toEqual(Array.from(v));
    } finally {
      exported.dispose();
    }
  });

  it('trains only the mask-token row of the text encoder and never touches the frozen copy', async () => {
    const before = m.encoder.embedTokens.namedParameters()[0][1].value.dataSync().slice();
    const s = TrainingSession.open(
      options(tmpRun(), dualObjective(m, dataDir).objective, { accumulation: 1 }),
    );
    await steps(s, 3);
    const row = s.params.find((p) => p.name.startsWith('text_encoder.'))!;
    const after = row.variable.arraySync() as number[][];
    const d = after[0].length;
    after.forEach((r, i) => {
      const orig = Array.from(before.slice(i * d, (i + 1) * d));
      if (i === m.tokenizer.maskId) expect(r).not.toEqual(orig);
      else expect(r).toEqual(orig);
    });
    s.dispose();
    expect(Array.from(m.encoder.embedTokens.namedParameters()[0][1].value.dataSync())).toEqual(
      Array.from(before),
    );
  });

  it('can train the whole text encoder (a copy)', async () => {
    const before = new Map(m.encoder.namedParameters().map(([n, p]) => [n, p.value.dataSync().slice()]));
    const s = TrainingSession.open(
      options(tmpRun(), dualObjective(m, dataDir).objective, { accumulation: 1, textEncoder: 'all' }),
    );
    await steps(s, 2);
    const trained = s.params.filter((p) => p.name.startsWith('text_encoder.'));
    expect(trained.map((p) => p.name.slice('text_encoder.'.length)).sort()).toEqual(
      [...before.keys()].sort(),
    );
    for (const p of trained) {
      const orig = before.get(p.name.slice('text_encoder.'.length))!;
      expect(Array.from(p.variable.dataSync())).not.toEqual(Array.from(orig));
    }
    s.dispose();
    for (const [n, p] of m.encoder.namedParameters())
      expect(Array.from(p.value.dataSync())).toEqual(Array.from(before.get(n)!));
  });

  it('saves the last completed step when interrupted mid-step, and that checkpoint continues the run', async () => {
    const reference = TrainingSession.open(options(tmpRun(), dualObjective(m, dataDir).objective));
    const ref = await steps(reference, 3);
    reference.dispose();

    const run = tmpRun();
    const controller = new AbortController();
    const setup = dualObjective(m, dataDir);
    let prepared = 0;
    const abortingTerm = (t: LossTerm): LossTerm => ({
      key: t.key,
      cursor: t.cursor,
      prepare: async (rng, live) => {
        // 2 steps × 2 micro-batches × 2 terms have been prepared: abort inside step 3
        if (++prepared === 10) controller.abort();
        return t.prepare(rng, live);
      },
    });
    const objective: Objective = {
      terms: setup.objective.terms.map(({ term, weight }) => ({ term: abortingTerm(term), weight })),
    };
    const s = TrainingSession.open(options(run, objective));
    const saved: string[] = [];
    s.watch(controller.signal, (f) => saved.push(f));
    await steps(s, 2);
    expect(fs.existsSync(s.checkpointFile)).toBe(false);
    await s.trainStep(); // the abort fires during this step; the step itself completes in memory
    s.dispose();
    expect(saved).toEqual([path.join(run, 'checkpoint.safetensors')]);
    const ck = readCheckpoint(saved[0]);
    expect(ck.meta.step).toBe(2);
    expect(ck.meta.optimizer.stepsTaken).toBe(2);
    for (const t of Object.values(ck.tensors)) t.dispose();
    expect(fs.readdirSync(run).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    const resumed = TrainingSession.open(options(run, dualObjective(m, dataDir).objective));
    expect(resumed.resumedFrom).toBe(2);
    const next = await steps(resumed, 1);
    resumed.dispose();
    expect(next.map((x) => x.loss)).toEqual(ref.slice(2).map((x) => x.loss));
  });

  it('stops on a non-finite loss without updating anything and keeps the last good checkpoint', async () => {
    const run = tmpRun();
    const setup = dualObjective(m, dataDir);
    let calls = 0;
    const [img, txt] = setup.objective.terms;
    const poisoned: LossTerm = {
      key: txt.term.key,
      cursor: txt.term.cursor,
      prepare: async (rng, live) => {
        const p = await txt.term.prepare(rng, live);
        const bad = ++calls > 2;
        return { ...p, loss: (l) => (bad ? tf.mul(p.loss(l), NaN) : p.loss(l)) };
      },
    };
    const s = TrainingSession.open(
      options(run, { terms: [img, { term: poisoned, weight: txt.weight }] }, { accumulation: 1 }),
    );
    await steps(s, 2);
    s.saveCheckpoint();
    const good = fs.readFileSync(s.checkpointFile);
    const weights = snapshot(s);
    await expect(s.trainStep()).rejects.toThrow(NonFiniteError);
    await expect(s.trainStep()).rejects.toThrow(/failed/);
    expect(s.failed).toBe(true);
    expect(s.step).toBe(2);
    const after = snapshot(s);
    for (const [k, v] of weights) expect(Array.from(after.get(k)!)).toEqual(Array.from(v));
    expect(() => s.saveCheckpoint()).toThrow(/failed run is not saved/);
    const controller = new AbortController();
    s.watch(controller.signal);
    controller.abort();
    expect(fs.readFileSync(s.checkpointFile).equals(good)).toBe(true);
    s.dispose();
  });

  it('trains on instruction data with the prompt protected (SFT)', async () => {
    const manifest = path.join(dataDir, 'sft.jsonl');
    fs.writeFileSync(
      manifest,
      [
        'what color is the circle?|red',
        'what shape is the blue object?|square',
        'is there a green triangle?|yes',
      ]
        .map((l, i) =>
          JSON.stringify({ image: `pair${i}.png`, question: l.split('|')[0], answer: l.split('|')[1] }),
        )
        .join('\n'),
    );
    const sft = loadInstructionDataset(manifest, m.imageSize);
    const setup = dualObjective(m, dataDir);
    const cursor = new BatchCursor(sft, 3, 4, true);
    const text = new MaskedDiffusionTerm(m.vae, m.tokenizer, cursor, {
      textLength: 16,
      promptFormat: 'q: {question} a:',
      timeEps: 1e-3,
    });
    const s = TrainingSession.open(
      options(
        tmpRun(),
        { terms: [setup.objective.terms[0], { term: text, weight: 1 }] },
        { accumulation: 1, textEncoder: 'frozen' },
      ),
    );
    const r = await steps(s, 2);
    s.dispose();
    for (const x of r) {
      expect(Number.isFinite(x.loss_txt!)).toBe(true);
      expect(x.loss_txt!).toBeGreaterThan(0);
    }
  });

  it('refuses to resume when the data changed', async () => {
    const run = tmpRun();
    const s = TrainingSession.open(options(run, dualObjective(m, dataDir).objective, { accumulation: 1 }));
    await steps(s, 1);
    s.saveCheckpoint();
    s.dispose();
    const other = writePairs(m.imageSize, 3);
    expect(() => TrainingSession.open(options(run, dualObjective(m, other).objective))).toThrow(
      /data stream 0 changed/,
    );
  });
});
