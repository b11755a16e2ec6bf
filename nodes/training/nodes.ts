/**
 * Node definitions of the training pack. A training workflow runs as a loop (extra_data.loop =
 * {iterations: N}); the loaders, data sets, batch streams and losses are cached across iterations and
 * OptimizerStep (volatile) does one optimiser step per iteration, holding the live run in ctx.state.
 * SaveCheckpoint and TrainingSample (volatile output nodes) act every N steps. Starting the workflow on
 * a run folder that has a checkpoint continues that run exactly.
 */
import * as fs from 'fs';
import * as path from 'path';
import { defineNode } from '../../server/engine/define-node';
import type { NodeContext } from '../../server/engine/types';
import { tf } from '../../server/runtime/tf';
import { CfgGuider } from '../sampling/cfg';
import { noisedStart, sampleEuler } from '../sampling/euler';
import { flowMatchSigmas } from '../sampling/flow-schedule';
import { imageToPng } from '../sampling/preview';
import { Rng } from '../sampling/random';
import { captionTemplate, vqaTemplate } from '../sampling/templates';
import { sampleText } from '../sampling/text-sampling';
import { asImage, asTextEncoder, asTokenizer, asVae } from '../sampling/values';
import { ADAMW_DEFAULTS, type AdamWConfig, NonFiniteError } from './adamw';
import { LR_SCHEDULES, type LrSchedule, validateLrSchedule } from './lr-schedule';
import { BatchCursor } from './batches';
import { captionIds, SFT_PROMPT } from './sequences';
import { type DatasetLike, isDataset, loadImageTextDataset, loadInstructionDataset } from './datasets';
import type { EmaConfig } from './ema';
import {
  FlowMatchingTerm,
  MaskedDiffusionTerm,
  type Objective,
  TEXT_LOSS_NORMALIZATIONS,
  type TextLossNormalization,
} from './objective';
import { TEXT_ENCODER_TRAINING, type TextEncoderTraining, TrainingSession } from './session';
import { asTrainableDDiT, encodeSync } from './trainable';
import { appendMetrics, truncateMetrics } from './metrics-log';
import { DDiT, type DDiTConfig } from '../ddit/model';

const SEED = { type: 'INT', default: 0, min: 0, max: 2 ** 53 - 1 } as const;

function resolveInput(p: string, ctx: { folders: { input: string } }): string {
  return path.isAbsolute(p) ? p : path.join(ctx.folders.input, p);
}

/** mtime and size of a file or of every entry of a folder: reruns the loader when the data changes. */
function statFingerprint(p: string): string {
  try {
    const st = fs.statSync(p);
    if (!st.isDirectory()) return `${st.mtimeMs}:${st.size}`;
    return fs
      .readdirSync(p)
      .sort()
      .map((f) => {
        const s = fs.statSync(path.join(p, f));
        return `${f}:${s.mtimeMs}:${s.size}`;
      })
      .join('|');
  } catch {
    return 'missing';
  }
}

function asDataset(v: unknown, who: string, input = 'dataset'): DatasetLike {
  if (!isDataset(v)) throw new Error(`${who}: input '${input}' must be a DATASET`);
  return v;
}

function asCursor(v: unknown, who: string, input = 'batches'): BatchCursor {
  if (!(v instanceof BatchCursor))
    throw new Error(`${who}: input '${input}' must be BATCHES (from BatchIterator)`);
  return v;
}

function asObjective(v: unknown, who: string, input: string): Objective {
  const o = v as Objective | undefined;
  if (!o || !Array.isArray(o.terms) || o.terms.length === 0)
    throw new Error(`${who}: input '${input}' must be a LOSS`);
  return o;
}

export const ImageTextDataset = defineNode({
  type: 'ImageTextDataset',
  displayName: 'Image–Text Dataset',
  category: 'training/data',
  description:
    'Image–caption pairs: a folder of PNG images each with a same-name .txt caption (or a metadata.jsonl inside), ' +
    'or a JSONL/JSON manifest of {"image", "caption"} records with paths relative to it. Relative paths start in ' +
    'the input folder. Images are resized (shorter side, antialiased bicubic) and centre-cropped to the resolution.',
  inputs: {
    path: { type: 'STRING', default: 'dataset' },
    resolution: { type: 'INT', default: 256, min: 8, max: 4096, step: 8 },
  },
  outputs: { dataset: { type: 'DATASET' } },
  fingerprint: ({ path: p }, folders) => statFingerprint(resolveInput(p ?? '', { folders })),
  run({ path: p, resolution }, ctx) {
    return { dataset: loadImageTextDataset(resolveInput(p, ctx), resolution) };
  },
});

export const InstructionDataset = defineNode({
  type: 'InstructionDataset',
  displayName: 'Instruction Dataset',
  category: 'training/data',
  description:
    'Image–question–answer triples for instruction tuning from a JSONL/JSON manifest: {"image", "question", ' +
    '"answer"} or LLaVA {"image", "conversations"} (first turn). question_suffix is appended to every question ' +
    '(short-answer sets use "Answer the question using a single word or phrase.").',
  inputs: {
    path: { type: 'STRING', default: 'instructions.jsonl' },
    resolution: { type: 'INT', default: 256, min: 8, max: 4096, step: 8 },
    question_suffix: { type: 'STRING', default: '' },
  },
  outputs: { dataset: { type: 'DATASET' } },
  fingerprint: ({ path: p }, folders) => statFingerprint(resolveInput(p ?? '', { folders })),
  run({ path: p, resolution, question_suffix }, ctx) {
    return { dataset: loadInstructionDataset(resolveInput(p, ctx), resolution, question_suffix) };
  },
});

export const BatchIterator = defineNode({
  type: 'BatchIterator',
  displayName: 'Batch Iterator',
  category: 'training/data',
  description:
    'A stream of batches over a data set: a seeded shuffle per epoch (or file order), epochs chained without ' +
    'partial batches. The training step pulls from it (several micro-batches per step with gradient accumulation), ' +
    'so it is not rerun per iteration; its epoch and position are saved in every checkpoint and restored on resume.',
  inputs: {
    dataset: { type: 'DATASET' },
    batch_size: { type: 'INT', default: 8, min: 1, max: 4096 },
    seed: SEED,
    shuffle: { type: 'BOOLEAN', default: true },
  },
  outputs: { batches: { type: 'BATCHES' } },
  run({ dataset, batch_size, seed, shuffle }) {
    return { batches: new BatchCursor(asDataset(dataset, 'BatchIterator'), batch_size, seed, shuffle) };
  },
});

export const FlowMatchingLoss = defineNode({
  type: 'FlowMatchingLoss',
  displayName: 'Flow-Matching Loss',
  category: 'training/loss',
  description:
    'Image loss (spec §2.2): z₀ = VAE posterior sample; σ on the unshifted 1000-step grid from a logit-normal ' +
    '(sigma_mean, sigma_std; spec 0 and 1), z_σ = (1−σ)z₀ + σε, τ = 1000σ, L = mean (z_σ − σ·v̂ − z₀)² (the ' +
    'x₀-parameterised, σ²-weighted velocity loss). With probability cfg_dropout a caption is replaced by the ' +
    'encoding of " " at the same length (for classifier-free guidance). The VAE and the text encoder stay frozen.',
  inputs: {
    batches: { type: 'BATCHES' },
    vae: { type: 'VAE' },
    tokenizer: { type: 'TOKENIZER' },
    text_length: { type: 'INT', default: 256, min: 1, max: 4096 },
    cfg_dropout: { type: 'FLOAT', default: 0.1, min: 0, max: 1, step: 0.01 },
    sigma_mean: { type: 'FLOAT', default: 0, min: -5, max: 5, step: 0.1 },
    sigma_std: { type: 'FLOAT', default: 1, min: 0.01, max: 5, step: 0.1 },
  },
  outputs: { loss: { type: 'LOSS' } },
  run({ batches, vae, tokenizer, text_length, cfg_dropout, sigma_mean, sigma_std }) {
    const who = 'FlowMatchingLoss';
    const term = new FlowMatchingTerm(asVae(vae, who), asTokenizer(tokenizer, who), asCursor(batches, who), {
      textLength: text_length,
      cfgDropout: cfg_dropout,
      sigmaMean: sigma_mean,
      sigmaStd: sigma_std,
    });
    return { loss: { terms: [{ term, weight: 1 }] } satisfies Objective };
  },
});

export const MaskedDiffusionLoss = defineNode({
  type: 'MaskedDiffusionLoss',
  displayName: 'Masked-Diffusion Loss',
  category: 'training/loss',
  description:
    'Text loss (spec §2.3): log-linear schedule (η = 1e-3), one antithetic t per sequence, each maskable token ' +
    'masked with probability (1−η)t, logits = f(z₀, τ=0, Enc(x_t)), SUBS, weight 1/t computed as σ′(t)/(e^σ−1), ' +
    'summed and divided by B·M. On caption data every position (EOS padding included) can be masked; on ' +
    'instruction data the prompt (prompt_format, trailing EOS dropped) is protected and not scored. caption_prompt ' +
    '(default empty, as the spec) puts a fixed protected prompt before every caption, for models that caption by ' +
    "in-filling after it (Caption prompt). normalize 'content' (a deviation from the spec) divides each sequence's " +
    'sum by its content length (its scored tokens up to and including the first EOS) and averages over sequences, ' +
    'so a one-word answer weighs as much as a whole caption instead of 1/M of a row.',
  inputs: {
    batches: { type: 'BATCHES' },
    vae: { type: 'VAE' },
    tokenizer: { type: 'TOKENIZER' },
    text_length: { type: 'INT', default: 256, min: 1, max: 4096 },
    prompt_format: { type: 'STRING', default: SFT_PROMPT },
    caption_prompt: { type: 'STRING', default: '' },
    normalize: { type: 'COMBO', choices: TEXT_LOSS_NORMALIZATIONS, default: 'positions' },
  },
  outputs: { loss: { type: 'LOSS' } },
  run({ batches, vae, tokenizer, text_length, prompt_format, caption_prompt, normalize }) {
    const who = 'MaskedDiffusionLoss';
    if (!prompt_format.includes('{question}'))
      throw new Error(`${who}: input 'prompt_format' must contain {question}`);
    const term = new MaskedDiffusionTerm(
      asVae(vae, who),
      asTokenizer(tokenizer, who),
      asCursor(batches, who),
      {
        textLength: text_length,
        promptFormat: prompt_format,
        captionPrompt: caption_prompt.trim() ? caption_prompt : undefined,
        normalize: normalize as TextLossNormalization,
        timeEps: 1e-3,
      },
    );
    return { loss: { terms: [{ term, weight: 1 }] } satisfies Objective };
  },
});

export const DualDiffusionLoss = defineNode({
  type: 'DualDiffusionLoss',
  displayName: 'Dual-Diffusion Loss',
  category: 'training/loss',
  description:
    'L = L_img + λ·L_txt over two different batches (spec §2.1): λ = 0.2 in pretraining, 1.0 in instruction tuning.',
  inputs: {
    image_loss: { type: 'LOSS' },
    text_loss: { type: 'LOSS' },
    text_weight: { type: 'FLOAT', default: 0.2, min: 0, max: 100, step: 0.05 },
  },
  outputs: { loss: { type: 'LOSS' } },
  run({ image_loss, text_loss, text_weight }) {
    const who = 'DualDiffusionLoss';
    const a = asObjective(image_loss, who, 'image_loss');
    const b = asObjective(text_loss, who, 'text_loss');
    return {
      loss: {
        terms: [...a.terms, ...b.terms.map((t) => ({ term: t.term, weight: t.weight * text_weight }))],
      } satisfies Objective,
    };
  },
});

export const AdamW = defineNode({
  type: 'AdamW',
  category: 'training/optim',
  description:
    'AdamW settings (spec §2.4): decoupled weight decay on every trained parameter, lr_k = lr·min(1, k/warmup) with ' +
    'k the steps already taken (the first step has lr 0), global gradient-norm clipping at clip_norm (0 = off). The ' +
    "reference's lr 3e-5 suits fine-tuning a large model; a small model trained from scratch wants about 1e-3 " +
    '(notes/shapes-recipe.md). schedule: after the warm-up, hold lr (constant, the reference) or decay it to min_lr ' +
    "by step decay_steps along a half cosine or a line (0 = the run's max_steps), starting at decay_start (0 = the " +
    'end of the warm-up; the rate holds at lr until then). A resumed run follows the schedule from its saved ' +
    'step, so a decay can be added to a run already under way, and decay_start at the current step starts a new ' +
    'cycle from lr (a warm restart).',
  inputs: {
    lr: { type: 'FLOAT', default: 3e-5, min: 0, max: 1, step: 1e-5, round: 1e-7 },
    beta1: { type: 'FLOAT', default: 0.9, min: 0, max: 0.9999, step: 0.001 },
    beta2: { type: 'FLOAT', default: 0.999, min: 0, max: 0.99999, step: 0.0001 },
    eps: { type: 'FLOAT', default: 1e-8, min: 1e-12, max: 1, step: 1e-8, round: 1e-12 },
    weight_decay: { type: 'FLOAT', default: 0.01, min: 0, max: 1, step: 0.001 },
    warmup_steps: { type: 'INT', default: 2000, min: 0, max: 1e7 },
    clip_norm: { type: 'FLOAT', default: 2.0, min: 0, max: 1e6, step: 0.1 },
    schedule: { type: 'COMBO', choices: LR_SCHEDULES, default: 'constant', optional: true },
    decay_steps: { type: 'INT', default: 0, min: 0, max: 1e9, optional: true },
    decay_start: { type: 'INT', default: 0, min: 0, max: 1e9, optional: true },
    min_lr: { type: 'FLOAT', default: 0, min: 0, max: 1, step: 1e-6, round: 1e-8, optional: true },
  },
  outputs: { optimizer: { type: 'OPTIMIZER' } },
  run(inputs) {
    const { lr, beta1, beta2, eps, weight_decay, warmup_steps, clip_norm, schedule, decay_steps, min_lr } =
      inputs;
    const decayStart = inputs.decay_start ?? 0;
    const who = 'AdamW';
    const minLr = min_lr ?? 0;
    if (minLr > lr) throw new Error(`${who}: input 'min_lr' (${minLr}) must not exceed lr (${lr})`);
    const decaySteps = decay_steps ?? 0;
    if (schedule && schedule !== 'constant' && decaySteps > 0 && decaySteps <= warmup_steps) {
      throw new Error(
        `${who}: input 'decay_steps' (${decaySteps}) must be above warmup_steps (${warmup_steps}), or 0 for max_steps`,
      );
    }
    const optimizer: AdamWConfig = {
      lr,
      beta1,
      beta2,
      eps,
      weightDecay: weight_decay,
      warmupSteps: warmup_steps,
      clipNorm: clip_norm,
      schedule: (schedule ?? 'constant') as LrSchedule,
      decaySteps,
      decayStart,
      minLr,
    };
    // the schedule's own rules (decay_start below decay_steps…); decay_steps 0 is settled by OptimizerStep
    if (decaySteps > 0) {
      try {
        validateLrSchedule(optimizer);
      } catch (e) {
        throw new Error(`${who}: ${(e as Error).message}`);
      }
    }
    return { optimizer };
  },
});

export const EMA = defineNode({
  type: 'EMA',
  category: 'training/optim',
  description:
    'Exponential moving average of the trained weights: equal to them up to start_step, then e ← d·e + (1−d)·w ' +
    'after every step. The reference hard-codes 0.9999; runs under ~10k steps do better with 0.99–0.995.',
  inputs: {
    decay: { type: 'FLOAT', default: 0.9999, min: 0, max: 1, step: 0.0001, round: 1e-6 },
    start_step: { type: 'INT', default: 0, min: 0, max: 1e9 },
  },
  outputs: { ema: { type: 'EMA' } },
  run({ decay, start_step }) {
    const ema: EmaConfig = { decay, startStep: start_step };
    return { ema };
  },
});

export const NewDDiT = defineNode({
  type: 'NewDDiT',
  displayName: 'New D-DiT',
  category: 'training',
  description:
    'A freshly initialised D-DiT for training from scratch, sized to the given text encoder (joint_attention_dim), ' +
    'tokenizer (vocabulary and mask id) and VAE (latent channels). Initialisation follows spec §1.8: modulation ' +
    'linears and the image projection zero (every block starts as the identity, v̂ ≡ 0), the rest Xavier. ' +
    'sample_size is the latent side the position table is scaled for.',
  inputs: {
    tokenizer: { type: 'TOKENIZER' },
    text_encoder: { type: 'TEXT_ENCODER' },
    vae: { type: 'VAE' },
    width: { type: 'INT', default: 128, min: 8, max: 8192, step: 8 },
    heads: { type: 'INT', default: 2, min: 1, max: 256 },
    layers: { type: 'INT', default: 4, min: 1, max: 256 },
    patch_size: { type: 'INT', default: 1, min: 1, max: 16 },
    sample_size: { type: 'INT', default: 8, min: 1, max: 1024 },
    pos_embed_max_size: { type: 'INT', default: 16, min: 1, max: 1024 },
    null_image_tokens: { type: 'INT', default: 0, min: 0, max: 1024 },
    seed: SEED,
  },
  outputs: { model: { type: 'DDIT_MODEL' } },
  run(i) {
    const who = 'NewDDiT';
    const tok = asTokenizer(i.tokenizer, who) as ReturnType<typeof asTokenizer> & { vocabSize?: number };
    const enc = asTextEncoder(i.text_encoder, who) as { config?: { d_model?: number } };
    const vae = asVae(i.vae, who) as { config?: { latent_channels?: number } };
    const dEnc = enc.config?.d_model;
    const channels = vae.config?.latent_channels;
    const vocab = tok.vocabSize;
    if (!dEnc) throw new Error(`${who}: input 'text_encoder' does not state its width (config.d_model)`);
    if (!channels) throw new Error(`${who}: input 'vae' does not state its latent channels`);
    if (!vocab) throw new Error(`${who}: input 'tokenizer' does not state its vocabulary size`);
    if (i.width % i.heads !== 0)
      throw new Error(`${who}: width ${i.width} is not divisible by heads ${i.heads}`);
    const config: DDiTConfig = {
      sample_size: i.sample_size,
      patch_size: i.patch_size,
      in_channels: channels,
      num_layers: i.layers,
      num_attention_heads: i.heads,
      attention_head_dim: i.width / i.heads,
      joint_attention_dim: dEnc,
      pos_embed_max_size: i.pos_embed_max_size,
      vocab_size: vocab,
      null_image_tokens: i.null_image_tokens,
      mask_token_id: tok.maskId,
    };
    return { model: new DDiT(config).initialize(i.seed) };
  },
});

const RUN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function runDirFor(folders: { output: string }, runName: string, who: string): string {
  if (!RUN_NAME.test(runName) || runName.includes('..')) {
    throw new Error(`${who}: input 'run_name' must be a plain name (letters, digits, _ . -)`);
  }
  return path.join(folders.output, 'training', runName);
}

/** Where an exported model goes: a plain .safetensors path inside the models folder. */
function exportPath(folders: { models: string }, name: string, who: string): string | undefined {
  if (!name) return undefined;
  const file = path.resolve(folders.models, name);
  const rel = path.relative(path.resolve(folders.models), file);
  if (!name.endsWith('.safetensors') || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new Error(`${who}: input 'export_name' must be a .safetensors path inside the models folder`);
  }
  return file;
}

/**
 * TRAIN_STATE: a handle on the run that OptimizerStep keeps in its node state. The engine frees node
 * outputs it no longer needs (every iteration, for a volatile node), so outputs must not own the run.
 */
export class TrainState {
  readonly byteSize = 64;
  constructor(readonly session: TrainingSession) {}
}

/** The live model as an output the engine may drop without freeing it (the run owns it). */
function borrowed<T extends object>(model: T): T {
  return new Proxy(model, {
    get: (target, key) =>
      key === 'dispose' ? () => {} : key === 'byteSize' ? 0 : Reflect.get(target, key, target),
  });
}

function asSession(v: unknown, who: string): TrainingSession {
  if (!(v instanceof TrainState)) {
    throw new Error(`${who}: input 'state' must be a TRAIN_STATE (from OptimizerStep)`);
  }
  return v.session;
}

function isLastIteration(ctx: NodeContext): boolean {
  return ctx.loop.index === ctx.loop.total - 1;
}

const SESSION_KEY = 'session';

/** A decaying schedule with decay_steps 0 ends at the run's max_steps. */
function withDecaySteps(cfg: AdamWConfig, maxSteps: number, who: string): AdamWConfig {
  if ((cfg.schedule ?? 'constant') === 'constant' || (cfg.decaySteps ?? 0) > 0) return cfg;
  if (maxSteps <= cfg.warmupSteps) {
    throw new Error(
      `${who}: input 'max_steps' (${maxSteps}) must exceed the optimizer's warmup_steps (${cfg.warmupSteps}) ` +
        `for its ${cfg.schedule} schedule to decay`,
    );
  }
  return { ...cfg, decaySteps: maxSteps };
}

export const OptimizerStep = defineNode({
  type: 'OptimizerStep',
  displayName: 'Optimizer Step',
  category: 'training',
  description:
    'One optimiser step per loop iteration: pulls `accumulation` micro-batches from the loss, sums their gradients, ' +
    'clips, applies AdamW and updates the EMA. Trains a copy of the D-DiT (all of it, both heads and null image ' +
    "tokens); the VAE is frozen. train_text_encoder: frozen (spec), mask_row (only the mask token's input " +
    "embedding, the paper's stage 2), or all (deviation: for small models trained from scratch, as the shapes " +
    'recipe does; a frozen random encoder carries too little position information for captions). ' +
    'The run lives in output/training/<run_name>; when a checkpoint is there the run ' +
    'resumes from it and follows the same trajectory. Sends ddit.train_metrics each step, stops the loop at ' +
    'max_steps, and stops with an error on a non-finite loss (nothing is updated; the last checkpoint stays).',
  output: true,
  volatile: true,
  inputs: {
    model: { type: 'DDIT_MODEL' },
    text_encoder: { type: 'TEXT_ENCODER' },
    loss: { type: 'LOSS' },
    optimizer: { type: 'OPTIMIZER' },
    ema: { type: 'EMA', optional: true },
    run_name: { type: 'STRING', default: 'ddit-run' },
    max_steps: { type: 'INT', default: 1000, min: 1, max: 1e9 },
    accumulation: { type: 'INT', default: 1, min: 1, max: 1024 },
    train_text_encoder: { type: 'COMBO', choices: TEXT_ENCODER_TRAINING, default: 'frozen' },
    warm_start: {
      type: 'BOOLEAN',
      default: false,
      tooltip:
        'When the run folder has no checkpoint, continue from the step the loaded model file was exported at ' +
        '(its ddit_step): the learning-rate schedule goes on from there, the EMA starts from those weights, and ' +
        'the optimiser moments start from zero with a fresh warm-up. Off: a run without a checkpoint starts at step 0.',
    },
    seed: SEED,
  },
  outputs: { state: { type: 'TRAIN_STATE' }, model: { type: 'DDIT_MODEL' } },
  async run(inputs, ctx) {
    const who = 'OptimizerStep';
    let session = ctx.state.get(SESSION_KEY) as TrainingSession | undefined;
    if (ctx.loop.index === 0 || !session || session.failed) {
      session?.dispose();
      ctx.state.delete(SESSION_KEY);
      const encoder = asTextEncoder(inputs.text_encoder, who);
      const model = asTrainableDDiT(inputs.model, who);
      const objective = asObjective(inputs.loss, who, 'loss');
      const tok = (objective.terms[0].term as unknown as { tokenizer?: { maskId: number } }).tokenizer;
      const maskId = tok?.maskId ?? model.config.mask_token_id ?? -1;
      if (model.config.mask_token_id !== undefined && tok && tok.maskId !== model.config.mask_token_id) {
        throw new Error(
          `${who}: the tokenizer's mask id ${tok.maskId} differs from the model's mask_token_id ${model.config.mask_token_id}`,
        );
      }
      session = TrainingSession.open({
        model,
        encoder,
        objective,
        adamw: withDecaySteps(
          { ...ADAMW_DEFAULTS, ...(inputs.optimizer as AdamWConfig) },
          inputs.max_steps,
          who,
        ),
        ema: inputs.ema as EmaConfig | undefined,
        runDir: runDirFor(ctx.folders, inputs.run_name, who),
        accumulation: inputs.accumulation,
        textEncoder: inputs.train_text_encoder as TextEncoderTraining,
        maskId,
        seed: inputs.seed,
        warmStart: inputs.warm_start,
      });
      ctx.state.set(SESSION_KEY, session);
      truncateMetrics(path.dirname(session.checkpointFile), session.resumedFrom);
      if (session.resumedFrom !== null)
        ctx.log.info(`${who}: resuming ${inputs.run_name} at step ${session.resumedFrom}`);
      else if (session.warmStartedFrom !== null)
        ctx.log.info(
          `${who}: ${inputs.run_name} has no checkpoint; continuing the model's weights from step ${session.warmStartedFrom} ` +
            '(fresh optimiser moments, re-warmed learning rate)',
        );
    }
    const s = session;
    s.watch(
      ctx.signal,
      (file) => ctx.log.info(`${who}: interrupted; saved step ${s.lastSavedStep} to ${file}`),
      (e) => ctx.log.error(`${who}: could not save the interrupted run: ${e.message}`),
    );
    if (s.step >= inputs.max_steps) {
      s.finished = true;
      ctx.loop.stop(`${inputs.run_name} reached max_steps ${inputs.max_steps}`);
      return { state: new TrainState(s), model: borrowed(s.model) };
    }
    let metrics;
    try {
      metrics = await s.trainStep();
    } catch (e) {
      if (e instanceof NonFiniteError) {
        ctx.state.delete(SESSION_KEY);
        const kept =
          s.lastSavedStep !== null
            ? `the last good checkpoint (step ${s.lastSavedStep}) is kept at ${s.checkpointFile}`
            : 'no checkpoint had been saved yet';
        s.dispose();
        throw new Error(`${who}: training stopped at step ${s.step + 1}: ${e.message}; ${kept}`);
      }
      throw e;
    }
    appendMetrics(path.dirname(s.checkpointFile), metrics);
    ctx.send('ddit.train_metrics', { ...metrics, run: inputs.run_name, max_steps: inputs.max_steps });
    ctx.progress(s.step, inputs.max_steps);
    if (s.step >= inputs.max_steps) {
      s.finished = true;
      ctx.loop.stop(`${inputs.run_name} reached max_steps ${inputs.max_steps}`);
    }
    ctx.ui({
      text: [
        `step ${metrics.step}: loss ${metrics.loss.toFixed(4)}` +
          (metrics.loss_img !== null ? ` img ${metrics.loss_img.toFixed(4)}` : '') +
          (metrics.loss_txt !== null ? ` txt ${metrics.loss_txt.toFixed(4)}` : ''),
      ],
      metrics: [metrics],
    });
    return { state: new TrainState(s), model: borrowed(s.model) };
  },
});

/** Whether the step just taken is the last one of this workflow execution. */
function atEnd(s: TrainingSession, ctx: NodeContext): boolean {
  return isLastIteration(ctx) || s.finished;
}

export const SaveCheckpoint = defineNode({
  type: 'SaveCheckpoint',
  displayName: 'Save Training Checkpoint',
  category: 'training',
  description:
    'Saves the run every `every` steps and at the end of the loop: checkpoint.safetensors (live weights, EMA, ' +
    'optimiser moments, step, random state and data positions; atomic temp file + rename) and, with export_model, ' +
    "model.safetensors (EMA weights when there is an EMA, in the model loaders' layout). An interrupted run is " +
    'saved at its last completed step by OptimizerStep itself.',
  output: true,
  volatile: true,
  inputs: {
    state: { type: 'TRAIN_STATE' },
    every: { type: 'INT', default: 500, min: 1, max: 1e9 },
    export_model: { type: 'BOOLEAN', default: true },
    export_name: { type: 'STRING', default: '' },
  },
  outputs: {},
  async run({ state, every, export_model, export_name }, ctx) {
    const who = 'SaveCheckpoint';
    const s = asSession(state, who);
    const due = s.step > 0 && (s.step % every === 0 || atEnd(s, ctx));
    if (!due || s.lastSavedStep === s.step) return {};
    const file = s.saveCheckpoint();
    const files = [file];
    if (export_model) files.push(await s.exportModel(exportPath(ctx.folders, export_name, who)));
    ctx.send('ddit.train_checkpoint', { step: s.step, files });
    ctx.ui({ text: [`saved step ${s.step}`], files });
    return {};
  },
});

export const TrainingSample = defineNode({
  type: 'TrainingSample',
  displayName: 'Training Sample',
  category: 'training',
  description:
    'Every `every` steps (and at the end of the loop) draws a sample image for `prompt` (Euler, shift 3, cfg with ' +
    'the " " prompt) and a caption of `image` (or of the first training image) with the EMA weights when the run ' +
    'has an EMA; saves the PNG under the run folder and sends ddit.train_sample.',
  output: true,
  volatile: true,
  inputs: {
    state: { type: 'TRAIN_STATE' },
    vae: { type: 'VAE' },
    tokenizer: { type: 'TOKENIZER' },
    prompt: { type: 'STRING', default: 'a red circle', multiline: true },
    image: { type: 'IMAGE', optional: true },
    caption_prompt: { type: 'STRING', default: '' },
    every: { type: 'INT', default: 500, min: 1, max: 1e9 },
    text_length: { type: 'INT', default: 256, min: 1, max: 4096 },
    latent_size: { type: 'INT', default: 32, min: 1, max: 1024 },
    steps: { type: 'INT', default: 20, min: 1, max: 1000 },
    cfg: { type: 'FLOAT', default: 4, min: 0, max: 30, step: 0.1 },
    text_steps: { type: 'INT', default: 16, min: 1, max: 4096 },
    seed: SEED,
    use_ema: { type: 'BOOLEAN', default: true },
  },
  outputs: {},
  async run(inputs, ctx) {
    const who = 'TrainingSample';
    const s = asSession(inputs.state, who);
    if (!(s.step > 0 && (s.step % inputs.every === 0 || atEnd(s, ctx)))) return {};
    const vae = asVae(inputs.vae, who);
    const tok = asTokenizer(inputs.tokenizer, who);
    const model = inputs.use_ema ? s.emaModel() : s.model;
    const m = inputs.text_length;
    const encode = (text: string): tf.Tensor3D => {
      const ids = tf.tensor2d(captionIds(tok, text, m), [1, m], 'int32');
      try {
        return encodeSync(s.encoder, ids, who);
      } finally {
        ids.dispose();
      }
    };
    const pos = encode(inputs.prompt);
    const neg = encode(' ');
    const channels = (model.config as { in_channels?: number }).in_channels ?? 16;
    const size = inputs.latent_size;
    const empty = tf.zeros([1, size, size, channels]) as tf.Tensor4D;
    const start = noisedStart(empty, 1, new Rng(inputs.seed));
    const guider = new CfgGuider(model, { embeds: pos }, { embeds: neg }, inputs.cfg, who);
    let png: Uint8Array;
    try {
      const z = await sampleEuler(guider, flowMatchSigmas(inputs.steps, 3), start);
      const img = await vae.decode(z);
      z.dispose();
      png = await imageToPng(img);
      img.dispose();
    } finally {
      tf.dispose([pos, neg, empty, start]);
    }
    const dir = path.join(path.dirname(s.checkpointFile), 'samples');
    fs.mkdirSync(dir, { recursive: true });
    const filename = `step_${String(s.step).padStart(7, '0')}.png`;
    fs.writeFileSync(path.join(dir, filename), png);
    const subfolder = path.relative(ctx.folders.output, dir);
    const ref = { filename, subfolder, type: 'output' as const };

    let image: tf.Tensor4D;
    let ownImage = false;
    if (inputs.image !== undefined) image = asImage(inputs.image, who);
    else {
      const it = s.cursors[0].dataset.get(0);
      image = tf.tensor4d(it.image, [1, it.height, it.width, 3]);
      ownImage = true;
    }
    let caption = '';
    try {
      if (typeof vae.encode !== 'function') throw new Error(`${who}: input 'vae' cannot encode images`);
      const z0 = await vae.encode(image, { mode: 'sample', seed: inputs.seed });
      try {
        const quiet: NodeContext = { ...ctx, send: () => {}, progress: () => {} };
        const res = await sampleText(
          {
            model,
            encoder: s.encoder,
            tokenizer: tok,
            latent: z0,
            template: inputs.caption_prompt.trim()
              ? vqaTemplate(inputs.caption_prompt, m, tok, who)
              : captionTemplate(m, tok),
            steps: inputs.text_steps,
            seed: inputs.seed,
          },
          quiet,
        );
        caption = res.text;
      } finally {
        z0.dispose();
      }
    } finally {
      if (ownImage) image.dispose();
    }
    ctx.send('ddit.train_sample', { step: s.step, prompt: inputs.prompt, image: ref, caption });
    ctx.ui({ images: [ref], text: [caption] });
    return {};
  },
});
