/**
 * A training run in memory: live copies of the trained models, the optimiser and EMA, the run's random
 * generator and data positions, and the step count. One `trainStep()` is one optimiser step (with
 * gradient accumulation). Checkpoints hold everything needed to continue bit for bit, and the state
 * they save is always a step boundary: random draws and data positions are snapshotted after each
 * completed step, and the weights only change inside the synchronous update at its end.
 */
import * as fs from 'fs';
import * as path from 'path';
import { tf } from '../../server/runtime/tf';
import { leanVariableGrads } from '../../server/runtime/lean-grads';
import { type CheckpointParts, saveCheckpoint as saveModelCheckpoint } from '../ddit/checkpoint';
import type { TextEncoderLike } from '../sampling/interfaces';
import { Rng, type RngState } from '../sampling/random';
import { accumulate, AdamW, type AdamWConfig, type Grads, NonFiniteError, type TrainParam } from './adamw';
import type { BatchCursor, CursorState } from './batches';
import {
  CHECKPOINT_FILE,
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  type CheckpointMeta,
  MODEL_FILE,
  readCheckpoint,
  saveCheckpointSync,
  withPrefix,
} from './checkpoint';
import { Ema, type EmaConfig } from './ema';
import type { LiveModels, Objective, PreparedTerm } from './objective';
import {
  cloneModule,
  findEmbeddingParam,
  type TrainableDDiT,
  type TrainableTextEncoder,
  type ParameterLike,
} from './trainable';

export type TextEncoderTraining = 'frozen' | 'mask_row' | 'all';
export const TEXT_ENCODER_TRAINING: readonly TextEncoderTraining[] = ['frozen', 'mask_row', 'all'];

export interface SessionOptions {
  model: TrainableDDiT;
  /** The frozen text encoder; copied when its mask-token row trains. */
  encoder: TextEncoderLike;
  objective: Objective;
  adamw: AdamWConfig;
  ema?: EmaConfig;
  /** Folder of the run: checkpoint.safetensors, model.safetensors, samples/. */
  runDir: string;
  accumulation: number;
  /**
   * What of the text encoder trains: nothing (spec default), the mask token's input-embedding row (the
   * paper's stage 2), or all of it (a deviation for small models trained from scratch).
   */
  textEncoder: TextEncoderTraining;
  maskId: number;
  seed: number;
  /** Resume from the run folder's checkpoint when there is one (default true). */
  resume?: boolean;
  /**
   * Without a checkpoint in the run folder, continue from the step the model's weights were exported at
   * (`model.trainedSteps`): the schedule resumes there, the EMA starts from the given weights, the optimiser
   * moments start from zero with a fresh warm-up, and the data streams start a new shuffle.
   */
  warmStart?: boolean;
}

export interface StepMetrics {
  step: number;
  loss: number;
  loss_img: number | null;
  loss_txt: number | null;
  lr: number;
  grad_norm: number;
  samples_per_s: number;
  [key: string]: number | null;
}

interface Committed {
  step: number;
  rng: RngState;
  cursors: CursorState[];
}

const MODEL_PREFIX = 'model.';
const ENCODER_PREFIX = 'text_encoder.';

function uniqueCursors(objective: Objective): BatchCursor[] {
  const out: BatchCursor[] = [];
  for (const { term } of objective.terms) if (!out.includes(term.cursor)) out.push(term.cursor);
  return out;
}

export class TrainingSession {
  readonly model: TrainableDDiT;
  readonly encoder: TextEncoderLike;
  readonly params: TrainParam[] = [];
  readonly opt: AdamW;
  readonly ema?: Ema;
  readonly cursors: BatchCursor[];
  readonly checkpointFile: string;
  rng: Rng;
  step = 0;
  /** Set by OptimizerStep when the run reached its last step. */
  finished = false;
  /** Set when a step failed; such a session is never saved again. */
  failed = false;
  lastSavedStep: number | null = null;
  /** Whether this session continued a saved run. */
  resumedFrom: number | null = null;
  /** The exported step a run without a checkpoint continued from (warmStart). */
  warmStartedFrom: number | null = null;
  private liveEncoder?: TrainableTextEncoder;
  private committed: Committed;
  private watched?: AbortSignal;
  private emaCopy?: TrainableDDiT;
  private emaCopyStep = -1;

  private constructor(readonly opts: SessionOptions) {
    const who = 'OptimizerStep';
    this.model = cloneModule(opts.model, who);
    this.encoder = opts.encoder;
    for (const [name, p] of this.model.namedParameters()) {
      if (p.trainable) this.params.push({ name: MODEL_PREFIX + name, variable: p.value });
    }
    if (opts.textEncoder === 'all') {
      const live = cloneModule(opts.encoder as unknown as TrainableTextEncoder, who);
      for (const [name, p] of live.namedParameters()) {
        p.trainable = true;
        this.params.push({ name: ENCODER_PREFIX + name, variable: p.value });
      }
      this.liveEncoder = live;
      this.encoder = live;
    } else if (opts.textEncoder === 'mask_row') {
      const live = cloneModule(opts.encoder as unknown as TrainableTextEncoder, who);
      const found = findEmbeddingParam(live);
      if (!found)
        throw new Error(`${who}: the text encoder has no input embedding table to train the mask row of`);
      for (const [, p] of live.namedParameters()) p.trainable = false;
      const [name, emb] = found;
      emb.trainable = true;
      const rows = emb.value.shape[0];
      if (opts.maskId >= rows)
        throw new Error(`${who}: mask id ${opts.maskId} is outside the ${rows}-row embedding`);
      const mask = new Float32Array(rows);
      mask[opts.maskId] = 1;
      this.params.push({
        name: ENCODER_PREFIX + name,
        variable: emb.value,
        rowMask: tf.tensor2d(mask, [rows, 1]),
      });
      this.liveEncoder = live;
      this.encoder = live;
    }
    if (this.params.length === 0) throw new Error(`${who}: nothing to train (every parameter is frozen)`);
    this.opt = new AdamW(opts.adamw);
    if (opts.ema) {
      this.ema = new Ema(opts.ema);
      this.ema.update(this.weights(), 0);
    }
    this.cursors = uniqueCursors(opts.objective);
    this.rng = new Rng(opts.seed);
    this.checkpointFile = path.join(opts.runDir, CHECKPOINT_FILE);
    this.committed = this.snapshot();
  }

  /** A fresh run, or the saved one in opts.runDir when it has a checkpoint. */
  static open(opts: SessionOptions): TrainingSession {
    const s = new TrainingSession(opts);
    try {
      if ((opts.resume ?? true) && fs.existsSync(s.checkpointFile)) s.restore(s.checkpointFile);
      else {
        for (const c of s.cursors) c.reset();
        const from = opts.warmStart ? opts.model.trainedSteps : undefined;
        if (from !== undefined && from > 0) s.warmStartAt(from);
      }
      s.committed = s.snapshot();
    } catch (e) {
      s.dispose();
      throw e;
    }
    return s;
  }

  private warmStartAt(step: number): void {
    this.step = step;
    this.opt.stepsTaken = step;
    this.opt.momentsSince = step;
    this.warmStartedFrom = step;
  }

  get live(): LiveModels {
    return { model: this.model, encoder: this.encoder };
  }

  private weights(): Map<string, tf.Variable> {
    return new Map(this.params.map((p) => [p.name, p.variable]));
  }

  private snapshot(): Committed {
    return { step: this.step, rng: this.rng.getState(), cursors: this.cursors.map((c) => c.getState()) };
  }

  /** One optimiser step: `accumulation` micro-batches, gradients summed, clipped, AdamW, EMA. */
  async trainStep(): Promise<StepMetrics> {
    if (this.failed)
      throw new Error('OptimizerStep: this run has failed; start it again to resume from its checkpoint');
    const t0 = performance.now();
    const acc: Grads = new Map();
    const varToParam = new Map(this.params.map((p) => [p.variable.name, p.name]));
    const vars = this.params.map((p) => p.variable);
    const partSums = new Map<string, number>();
    let total = 0;
    let samples = 0;
    const k = this.opts.accumulation;
    try {
      for (let micro = 0; micro < k; micro++) {
        const prepared: Array<{ key: string; weight: number; p: PreparedTerm }> = [];
        try {
          for (const { term, weight } of this.opts.objective.terms) {
            prepared.push({ key: term.key, weight, p: await term.prepare(this.rng, this.live) });
          }
          const parts: tf.Scalar[] = [];
          const { value, grads } = leanVariableGrads(() => {
            let sum: tf.Scalar | null = null;
            for (const x of prepared) {
              const l = x.p.loss(this.live);
              parts.push(tf.keep(tf.clone(l)));
              const w = x.weight === 1 ? l : (tf.mul(l, x.weight) as tf.Scalar);
              sum = sum ? (tf.add(sum, w) as tf.Scalar) : w;
            }
            return sum!;
          }, vars);
          const v = value.dataSync()[0];
          value.dispose();
          const partVals = parts.map((p) => p.dataSync()[0]);
          tf.dispose(parts);
          const named: Grads = new Map();
          for (const [varName, g] of Object.entries(grads)) named.set(varToParam.get(varName) ?? varName, g);
          if (!Number.isFinite(v) || partVals.some((x) => !Number.isFinite(x))) {
            tf.dispose(Object.values(grads));
            const desc = prepared.map((x, i) => `loss_${x.key}=${partVals[i]}`).join(', ');
            throw new NonFiniteError(`the loss is ${v} (${desc})`);
          }
          accumulate(acc, named);
          total += v;
          prepared.forEach((x, i) => partSums.set(x.key, (partSums.get(x.key) ?? 0) + partVals[i]));
          samples += prepared.reduce((a, x) => a + x.p.samples, 0);
        } finally {
          for (const x of prepared) x.p.dispose();
        }
      }
      const report = this.opt.step(this.params, acc);
      this.step++;
      this.ema?.update(this.weights(), this.opt.stepsTaken);
      this.committed = this.snapshot();
      const seconds = (performance.now() - t0) / 1000;
      return {
        step: this.step,
        loss: total / k,
        loss_img: partSums.has('img') ? partSums.get('img')! / k : null,
        loss_txt: partSums.has('txt') ? partSums.get('txt')! / k : null,
        lr: report.lr,
        grad_norm: report.gradNorm,
        samples_per_s: seconds > 0 ? samples / seconds : 0,
      };
    } catch (e) {
      tf.dispose([...acc.values()]);
      if (e instanceof NonFiniteError) this.failed = true;
      throw e;
    }
  }

  /** Tensors and metadata of the last completed step (the caller disposes the model.* tensors). */
  private checkpointContents(): {
    tensors: Record<string, tf.Tensor>;
    owned: tf.Tensor[];
    meta: CheckpointMeta;
  } {
    const tensors: Record<string, tf.Tensor> = {};
    const owned: tf.Tensor[] = [];
    for (const [name, t] of this.model.state()) {
      tensors[MODEL_PREFIX + name] = t;
      owned.push(t);
    }
    for (const p of this.params) {
      if (p.name.startsWith(ENCODER_PREFIX)) tensors[p.name] = p.variable;
      const m = this.opt.m.get(p.name);
      const v = this.opt.v.get(p.name);
      if (m && v) {
        tensors[`optim.m.${p.name}`] = m;
        tensors[`optim.v.${p.name}`] = v;
      }
      const e = this.ema?.shadow.get(p.name);
      if (e) tensors[`ema.${p.name}`] = e;
    }
    const c = this.committed;
    const meta: CheckpointMeta = {
      format: CHECKPOINT_FORMAT,
      version: CHECKPOINT_VERSION,
      step: c.step,
      optimizer: { stepsTaken: this.opt.stepsTaken, momentsSince: this.opt.momentsSince },
      rng: c.rng,
      cursors: this.cursors.map((cur, i) => ({ key: cur.key, ...c.cursors[i] })),
      textEncoder: this.opts.textEncoder,
      layout: 'model.* PyTorch orientation; ema.*, optim.m.*, optim.v.*, text_encoder.* tfjs orientation',
      savedAt: new Date().toISOString(),
    };
    return { tensors, owned, meta };
  }

  /** Writes the checkpoint of the last completed step (atomically). */
  saveCheckpoint(): string {
    if (this.failed)
      throw new Error('OptimizerStep: a failed run is not saved; its last good checkpoint stays');
    if (this.committed.step !== this.opt.stepsTaken) {
      throw new Error('internal: checkpoint requested in the middle of an optimiser step');
    }
    const { tensors, owned, meta } = this.checkpointContents();
    try {
      saveCheckpointSync(this.checkpointFile, tensors, meta);
    } finally {
      tf.dispose(owned);
    }
    this.lastSavedStep = meta.step;
    return this.checkpointFile;
  }

  private restore(file: string): void {
    const { meta, tensors } = readCheckpoint(file);
    try {
      if ((meta.textEncoder ?? 'frozen') !== this.opts.textEncoder) {
        throw new Error(
          `${file}: the run was saved with train_text_encoder = ${meta.textEncoder}; start a new run to change it`,
        );
      }
      if (meta.cursors.length !== this.cursors.length) {
        throw new Error(
          `${file}: the run used ${meta.cursors.length} data streams, this workflow has ${this.cursors.length}`,
        );
      }
      this.cursors.forEach((c, i) => {
        if (meta.cursors[i].key !== c.key) {
          throw new Error(
            `${file}: data stream ${i} changed since the checkpoint (${meta.cursors[i].key} → ${c.key}); ` +
              'resuming would not follow the same trajectory — use a new run name',
          );
        }
      });
      this.model.loadState(withPrefix(tensors, MODEL_PREFIX));
      const need = (name: string): tf.Tensor => {
        const t = tensors[name];
        if (!t) throw new Error(`${file}: missing tensor '${name}'`);
        return t;
      };
      for (const p of this.params) {
        if (p.name.startsWith(ENCODER_PREFIX)) p.variable.assign(need(p.name));
        if (meta.optimizer.stepsTaken > (meta.optimizer.momentsSince ?? 0)) {
          this.opt.m.set(p.name, tf.variable(need(`optim.m.${p.name}`), false));
          this.opt.v.set(p.name, tf.variable(need(`optim.v.${p.name}`), false));
        }
        if (this.ema) {
          const e = tensors[`ema.${p.name}`];
          const s = this.ema.shadow.get(p.name);
          if (e && s) s.assign(e);
          else if (s) s.assign(p.variable);
        }
      }
      this.opt.stepsTaken = meta.optimizer.stepsTaken;
      this.opt.momentsSince = meta.optimizer.momentsSince ?? 0;
      this.step = meta.step;
      this.rng.setState(meta.rng);
      this.cursors.forEach((c, i) => c.setState(meta.cursors[i]));
      this.lastSavedStep = meta.step;
      this.resumedFrom = meta.step;
    } finally {
      for (const t of Object.values(tensors)) t.dispose();
    }
  }

  /** A copy of the model carrying the EMA weights (the live model when there is no EMA). */
  emaModel(): TrainableDDiT {
    if (!this.ema) return this.model;
    if (!this.emaCopy) this.emaCopy = cloneModule(this.model, 'EMA');
    if (this.emaCopyStep !== this.step) {
      const byName = new Map<string, ParameterLike>(this.emaCopy.namedParameters());
      for (const [name, shadow] of this.ema.shadow) {
        if (!name.startsWith(MODEL_PREFIX)) continue;
        byName.get(name.slice(MODEL_PREFIX.length))?.value.assign(shadow);
      }
      this.emaCopyStep = this.step;
    }
    return this.emaCopy;
  }

  /**
   * Writes the inference weights (EMA when enabled) as a model checkpoint that LoadCheckpoint reads
   * (docs/checkpoint-format.md): the D-DiT, plus the VAE, text encoder (with its trained mask row) and
   * tokenizer the run uses.
   */
  async exportModel(file = path.join(this.opts.runDir, MODEL_FILE)): Promise<string> {
    const frozen = this.opts.objective.terms.map(
      (t) => t.term as unknown as { vae?: unknown; tokenizer?: unknown },
    );
    const isModule = (v: unknown): boolean =>
      typeof (v as { state?: unknown } | undefined)?.state === 'function';
    const vae = frozen.map((t) => t.vae).find(isModule);
    const tokenizer = frozen
      .map((t) => t.tokenizer)
      .find((t) => typeof (t as { json?: unknown })?.json === 'string');
    const parts = {
      transformer: this.emaModel(),
      ...(vae ? { vae } : {}),
      ...(isModule(this.encoder) ? { textEncoder: this.encoder } : {}),
      ...(tokenizer ? { tokenizer } : {}),
    } as unknown as CheckpointParts;
    await saveModelCheckpoint(file, parts, {
      metadata: { ddit_step: String(this.step), ddit_weights: this.ema ? 'ema' : 'live' },
    });
    return file;
  }

  /**
   * Saves the last completed step if the run is interrupted (once per abort signal). The save is
   * synchronous because the process may exit as soon as the interruption is reported.
   */
  watch(signal: AbortSignal, onSaved?: (file: string) => void, onError?: (e: Error) => void): void {
    if (this.watched === signal) return;
    this.watched = signal;
    signal.addEventListener(
      'abort',
      () => {
        if (this.failed || this.lastSavedStep === this.committed.step) return;
        try {
          onSaved?.(this.saveCheckpoint());
        } catch (e) {
          onError?.(e as Error);
        }
      },
      { once: true },
    );
  }

  dispose(): void {
    this.model.dispose();
    this.liveEncoder?.dispose();
    this.emaCopy?.dispose();
    this.opt.dispose();
    this.ema?.dispose();
    for (const p of this.params) p.rowMask?.dispose();
  }

  get byteSize(): number {
    return this.params.reduce((a, p) => a + p.variable.size * 4 * (this.ema ? 4 : 3), 0);
  }
}
