/**
 * The whole evaluation of a checkpoint as `ddit eval` runs it: the eval set under the shipped workflows'
 * sampler settings, the unconditional text-to-image control beside it, and the text-sampler steps ablation.
 * Needs the tensor runtime started (initRuntime) before it is called.
 */
import * as path from 'path';
import { loadCheckpoint } from '../ddit/checkpoint';
import { loaderPreference, preferInference } from '../ddit/inference';
import { dditEvalModel, type DDiTParts } from './ddit-model';
import type { EvalSet } from './eval-set';
import type { RgbImage } from '../data/shapes/render';
import {
  runEvaluation,
  type EvalReport,
  type EvalSection,
  type ItemResult,
  type T2IItemResult,
} from './run-eval';
import { readSamplerSettings, type SamplerSettings } from './sampler-settings';

export interface EvaluateRequest {
  set: EvalSet;
  /** Checkpoint file (a full D-DiT checkpoint, docs/checkpoint-format.md). */
  checkpoint: string;
  sections: readonly EvalSection[];
  /** Text-sampler steps of the ablation (empty: none). */
  ablationSteps: readonly number[];
  seed: number;
  batchSize: number;
  /** LoadCheckpoint's `inference` input: auto, onnx or tfjs. */
  inference?: string;
  /** Sampler settings (default: read from the shipped workflows). */
  settings?: SamplerSettings;
  signal?: AbortSignal;
  /** A phase starts (label, items). */
  onPhase?(label: string, total: number, index: number, phases: number): void;
  onItem?(result: ItemResult, done: number, total: number): void;
  /** Each text-to-image sample after judging, from the main run or the unconditional control. */
  onImage?(result: T2IItemResult, image: RgbImage, run: 'main' | 'control'): void;
}

export interface AblationRow {
  steps: number;
  report: EvalReport;
}

export interface EvaluateResult {
  settings: SamplerSettings;
  report: EvalReport;
  /** The text-to-image section with the prompt replaced by the empty (negative) prompt. */
  control: EvalReport | null;
  ablation: AblationRow[];
  seconds: number;
}

interface Phase {
  label: string;
  total: number;
  run: () => Promise<EvalReport>;
}

export async function evaluateCheckpoint(req: EvaluateRequest): Promise<EvaluateResult> {
  const started = Date.now();
  const settings = req.settings ?? readSamplerSettings();
  const ck = loadCheckpoint(req.checkpoint);
  // served as LoadCheckpoint serves them (ONNX per the `inference` choice, exports cached beside the file)
  const pref = loaderPreference(req.inference, req.checkpoint);
  for (const m of [ck.transformer, ck.vae, ck.textEncoder]) preferInference(m, pref);
  const parts: DDiTParts = ck;
  const name = path.basename(req.checkpoint);
  const resolution = settings.t2i.width;
  const models: { dispose(): void }[] = [];
  const model = (opts: { unconditional?: boolean; textSteps?: number } = {}) => {
    const m = dditEvalModel(parts, { settings, name, ...opts });
    models.push(m);
    return m;
  };
  const run = (sections: EvalSection[], opts: { unconditional?: boolean; textSteps?: number } = {}) =>
    runEvaluation(req.set, model(opts), {
      sections,
      seed: req.seed,
      resolution,
      batchSize: req.batchSize,
      signal: req.signal,
      onItem: req.onItem,
      onImage: req.onImage && ((r, image) => req.onImage!(r, image, opts.unconditional ? 'control' : 'main')),
    });
  const has = (s: EvalSection): boolean => req.sections.includes(s);

  let report: EvalReport | null = null;
  let control: EvalReport | null = null;
  const ablation = new Map<number, { caption?: EvalReport; vqa?: EvalReport }>();
  const phases: Phase[] = [];
  const n = { t2i: req.set.t2i.length, caption: req.set.caption.length, vqa: req.set.vqa.length };
  phases.push({
    label: `main: ${req.sections.join(', ')}`,
    total: req.sections.reduce((a, s) => a + n[s], 0),
    run: async () => (report = await run([...req.sections])),
  });
  if (has('t2i')) {
    phases.push({
      label: 'text-to-image control (empty prompt, = CFG 0)',
      total: n.t2i,
      run: async () => (control = await run(['t2i'], { unconditional: true })),
    });
  }
  for (const steps of req.ablationSteps) {
    const row: { caption?: EvalReport; vqa?: EvalReport } = {};
    ablation.set(steps, row);
    // a steps value equal to the workflow's default is the main run itself (same seeds): reused
    const todo = (['caption', 'vqa'] as const).filter(
      (s) => has(s) && settings[s].steps !== steps && n[s] > 0,
    );
    if (!todo.length) continue;
    phases.push({
      label: `steps ablation: ${todo.join(', ')} at ${steps} steps`,
      total: todo.reduce((a, s) => a + n[s], 0),
      run: async () => {
        const r = await run(todo, { textSteps: steps });
        for (const s of todo) row[s] = r;
        return r;
      },
    });
  }
  try {
    for (let i = 0; i < phases.length; i++) {
      req.onPhase?.(phases[i].label, phases[i].total, i, phases.length);
      await phases[i].run();
    }
  } finally {
    for (const m of models) m.dispose();
    ck.transformer.dispose();
    ck.vae.dispose();
    ck.textEncoder.dispose();
  }
  const main = report as unknown as EvalReport;
  const rows: AblationRow[] = [...ablation].map(([steps, row]) => {
    const caption = row.caption ?? (has('caption') ? main : undefined);
    const vqa = row.vqa ?? (has('vqa') ? main : undefined);
    return {
      steps,
      report: {
        set: main.set,
        model: main.model,
        t2i: null,
        caption: caption?.caption ?? null,
        vqa: vqa?.vqa ?? null,
        items: [
          ...(caption?.items.filter((r) => r.section === 'caption') ?? []),
          ...(vqa?.items.filter((r) => r.section === 'vqa') ?? []),
        ],
      },
    };
  });
  return { settings, report: main, control, ablation: rows, seconds: (Date.now() - started) / 1000 };
}
