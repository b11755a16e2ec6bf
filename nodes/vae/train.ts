/**
 * Training a KL autoencoder from scratch on a DATASET of images: one optimiser step per loop iteration,
 * state kept in the node across iterations, resumable from the run folder's checkpoint (weights, AdamW
 * moments, step), and at the end a VAE file whose shift/scale are measured on data (so DiT latents have
 * about zero mean and unit variance, as spec §4 asks of a project-made VAE) with fitted preview factors.
 */
import * as fs from 'fs';
import * as path from 'path';
import { defineNode } from '../../server/engine/define-node';
import { tf } from '../../server/runtime/tf';
import { leanVariableGrads } from '../../server/runtime/lean-grads';
import { initRuntime } from '../../server/runtime';
import { loadSafetensors, saveSafetensorsBuffer } from '../../server/runtime/safetensors';
import { writeFileAtomicSync } from '../training/checkpoint';
import { AdamW, type TrainParam } from '../training/adamw';
import { saveCheckpoint } from '../ddit/checkpoint';
import { AutoencoderKL, type VaeConfig } from './model';
import { fitLatentRgbForVae } from './latent-rgb';
import { Rng } from '../sampling/random';

/** The image side of a DATASET item (the shapes world and the image-text datasets share it). */
interface ImageItem {
  image: Float32Array;
  width: number;
  height: number;
}
interface ImageDataset {
  readonly size: number;
  get(i: number, draw?: number): ImageItem;
}

export const SMALL_VAE_CONFIG: VaeConfig = {
  in_channels: 3,
  out_channels: 3,
  block_out_channels: [8, 16, 16],
  layers_per_block: 1,
  latent_channels: 4,
  norm_num_groups: 4,
  sample_size: 32,
  scaling_factor: 1,
  shift_factor: 0,
  use_quant_conv: true,
  use_post_quant_conv: true,
  mid_block_add_attention: false,
};

export interface VaeTrainState {
  model: AutoencoderKL;
  opt: AdamW;
  step: number;
  runDir: string;
  /** Step of the checkpoint on disk (null before the first save). */
  savedStep?: number | null;
  /** The run's abort signal already carries a save-on-interrupt listener. */
  watched?: AbortSignal;
}

const CKPT = 'checkpoint.safetensors';

function isImageDataset(v: unknown): v is ImageDataset {
  const d = v as ImageDataset;
  return !!d && typeof d.size === 'number' && typeof d.get === 'function';
}

/** Batch i of a run: seeded indices, so a resumed run draws the same images as an uninterrupted one. */
export function vaeBatch(ds: ImageDataset, seed: number, step: number, batch: number): tf.Tensor4D {
  const rng = new Rng(seed, step);
  const first = ds.get(0);
  const { width: W, height: H } = first;
  const data = new Float32Array(batch * H * W * 3);
  for (let b = 0; b < batch; b++) {
    const item = ds.get(rng.int(ds.size));
    if (item.width !== W || item.height !== H) throw new Error('dataset images must share one size');
    data.set(item.image, b * H * W * 3);
  }
  return tf.tensor4d(data, [batch, H, W, 3]);
}

/** Reconstruction MSE plus a KL term against N(0, I), on images in [0,1] mapped to [−1, 1]. */
export function vaeLoss(
  model: AutoencoderKL,
  images: tf.Tensor4D,
  klWeight: number,
  noise: tf.Tensor4D,
): { total: tf.Scalar; recon: tf.Scalar; kl: tf.Scalar } {
  const x = tf.sub(tf.mul(images, 2), 1) as tf.Tensor4D;
  const { mean, logvar } = model.encodeMoments(x);
  const lv = tf.clipByValue(logvar, -30, 20);
  const z = tf.add(mean, tf.mul(tf.exp(tf.mul(lv, 0.5)), noise)) as tf.Tensor4D;
  const recon = tf.mean(tf.square(tf.sub(model.decodeRaw(z), x))) as tf.Scalar;
  const kl = tf.mul(0.5, tf.mean(tf.sub(tf.add(tf.square(mean), tf.exp(lv)), tf.add(1, lv)))) as tf.Scalar;
  return { total: tf.add(recon, tf.mul(kl, klWeight)) as tf.Scalar, recon, kl };
}

function trainParams(model: AutoencoderKL): TrainParam[] {
  return model
    .namedParameters()
    .filter(([, p]) => p.trainable)
    .map(([name, p]) => ({ name, variable: p.value }));
}

export function saveVaeRun(state: VaeTrainState, config: VaeConfig): Promise<void> {
  return Promise.resolve().then(() => saveVaeRunSync(state, config));
}

/** Synchronous so an interrupt (Ctrl+C, SIGTERM) can save before the process exits. */
export function saveVaeRunSync(state: VaeTrainState, config: VaeConfig): void {
  fs.mkdirSync(state.runDir, { recursive: true });
  const tensors: Record<string, tf.Tensor> = {};
  const weights = state.model.state('vae.');
  try {
    for (const [k, v] of weights) tensors[k] = v;
    for (const [k, v] of state.opt.m) tensors[`optim.m.${k}`] = v;
    for (const [k, v] of state.opt.v) tensors[`optim.v.${k}`] = v;
    const buf = saveSafetensorsBuffer(tensors, {
      metadata: { step: String(state.step), vae_config: JSON.stringify(config) },
    });
    writeFileAtomicSync(path.join(state.runDir, CKPT), buf);
    state.savedStep = state.step;
  } finally {
    weights.forEach((t) => t.dispose());
  }
}

export async function loadVaeRun(
  runDir: string,
  config: VaeConfig,
  opt: AdamW,
): Promise<VaeTrainState | null> {
  const file = path.join(runDir, CKPT);
  if (!fs.existsSync(file)) return null;
  const { tensors, metadata } = await loadSafetensors(file);
  const model = new AutoencoderKL(config);
  const weights = new Map<string, tf.Tensor>();
  for (const [k, v] of Object.entries(tensors)) {
    if (k.startsWith('vae.')) weights.set(k.slice(4), v);
    else if (k.startsWith('optim.m.')) opt.m.set(k.slice(8), tf.variable(v, false));
    else if (k.startsWith('optim.v.')) opt.v.set(k.slice(8), tf.variable(v, false));
  }
  model.loadState(weights);
  for (const [k, v] of Object.entries(tensors))
    if (k.startsWith('vae.') || k.startsWith('optim.')) v.dispose();
  const step = Number(metadata.step ?? 0);
  opt.stepsTaken = step;
  return { model, opt, step, runDir };
}

/** Measures shift/scale on data and fits the preview factors; returns the finished VAE. */
export async function finishVae(
  state: VaeTrainState,
  config: VaeConfig,
  ds: ImageDataset,
  seed: number,
  calibrationImages = 256,
): Promise<AutoencoderKL> {
  const images = vaeBatch(ds, seed + 7919, 0, calibrationImages);
  try {
    const { mean } = tf.tidy(() => state.model.encodeMoments(tf.sub(tf.mul(images, 2), 1) as tf.Tensor4D));
    const { mean: mu, variance } = tf.moments(mean);
    const shift = (await mu.data())[0];
    const std = Math.sqrt((await variance.data())[0]);
    tf.dispose([mean, mu, variance]);
    const finished = new AutoencoderKL({
      ...config,
      shift_factor: shift,
      scaling_factor: 1 / Math.max(std, 1e-6),
    });
    const weights = state.model.state();
    finished.loadState(weights);
    weights.forEach((t) => t.dispose());
    const rgb = await fitLatentRgbForVae(finished, images);
    const withRgb = new AutoencoderKL({
      ...config,
      shift_factor: shift,
      scaling_factor: 1 / Math.max(std, 1e-6),
      latent_rgb_factors: rgb.factors,
      latent_rgb_bias: rgb.bias,
    });
    const w2 = finished.state();
    withRgb.loadState(w2);
    w2.forEach((t) => t.dispose());
    finished.dispose();
    return withRgb;
  } finally {
    images.dispose();
  }
}

export const TrainVAE = defineNode({
  type: 'TrainVAE',
  displayName: 'Train VAE',
  category: 'training',
  description:
    'Trains a KL autoencoder from scratch: one AdamW step per loop iteration (run the workflow with a loop), ' +
    'resuming from run_dir/checkpoint.safetensors. When `steps` is reached it measures shift/scale on data, ' +
    'fits the latent→RGB preview factors, writes `output_file` (a VAE-only checkpoint) and ends the loop.',
  volatile: true,
  output: true,
  inputs: {
    dataset: { type: 'DATASET' },
    config: { type: 'STRING', multiline: true, default: JSON.stringify(SMALL_VAE_CONFIG) },
    run_dir: { type: 'STRING', default: 'data/runs/vae' },
    output_file: { type: 'STRING', default: 'models/vae-shapes.safetensors' },
    steps: { type: 'INT', default: 2000, min: 1, max: 10_000_000 },
    batch_size: { type: 'INT', default: 32, min: 1, max: 4096 },
    lr: { type: 'FLOAT', default: 1e-3, min: 0, max: 1, step: 0.0001 },
    kl_weight: { type: 'FLOAT', default: 1e-4, min: 0, max: 10, step: 0.0001 },
    save_every: { type: 'INT', default: 200, min: 1, max: 1_000_000 },
    seed: { type: 'INT', default: 0, min: 0, max: 2 ** 31 - 1 },
    calibration_images: {
      type: 'INT',
      default: 256,
      min: 2,
      max: 100_000,
      tooltip: 'Images encoded at the end to measure shift/scale and fit the preview factors',
    },
  },
  outputs: { vae: { type: 'VAE' } },
  async run(inp, ctx) {
    await initRuntime();
    if (!isImageDataset(inp.dataset)) throw new Error("input 'dataset': expected a DATASET of images");
    let config: VaeConfig;
    try {
      config = JSON.parse(inp.config) as VaeConfig;
    } catch (e) {
      throw new Error(`input 'config': not valid JSON (${(e as Error).message})`);
    }
    const runDir = path.resolve(inp.run_dir);
    let state = ctx.state.get('run') as VaeTrainState | undefined;
    if (!state || state.runDir !== runDir) {
      const opt = new AdamW({
        lr: inp.lr,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weightDecay: 0.01,
        warmupSteps: 100,
        clipNorm: 2,
      });
      state = (await loadVaeRun(runDir, config, opt)) ?? {
        model: new AutoencoderKL(config).initialize(inp.seed),
        opt,
        step: 0,
        runDir,
      };
      ctx.state.set('run', state);
      if (state.step > 0) ctx.log.info(`TrainVAE: resumed ${runDir} at step ${state.step}`);
    }
    const s = state;
    if (s.watched !== ctx.signal) {
      s.watched = ctx.signal;
      ctx.signal.addEventListener(
        'abort',
        () => {
          if (s.step === 0 || s.savedStep === s.step) return;
          try {
            saveVaeRunSync(s, config);
            ctx.log.info(`TrainVAE: interrupted; saved step ${s.step} to ${runDir}`);
          } catch (e) {
            ctx.log.error(`TrainVAE: could not save the interrupted run: ${(e as Error).message}`);
          }
        },
        { once: true },
      );
    }
    if (s.step < inp.steps) {
      const t0 = Date.now();
      const images = vaeBatch(inp.dataset, inp.seed, s.step, inp.batch_size);
      const noiseRng = new Rng(inp.seed + 1, s.step);
      const h = images.shape[1];
      const w = images.shape[2];
      const f = 2 ** ((config.block_out_channels?.length ?? 1) - 1);
      const noise = tf.tensor4d(
        noiseRng.normals(inp.batch_size * (h / f) * (w / f) * config.latent_channels),
        [inp.batch_size, h / f, w / f, config.latent_channels],
      );
      let parts = { total: 0, recon: 0, kl: 0 };
      const params = trainParams(s.model);
      const { grads, value } = leanVariableGrads(
        () => {
          const l = vaeLoss(s.model, images, inp.kl_weight, noise);
          parts = { total: 0, recon: l.recon.dataSync()[0], kl: l.kl.dataSync()[0] };
          return l.total;
        },
        params.map((p) => p.variable),
      );
      parts.total = (await value.data())[0];
      tf.dispose([value, images, noise]);
      if (!Number.isFinite(parts.total)) {
        tf.dispose(Object.values(grads));
        throw new Error(`non-finite VAE loss at step ${s.step}; the last good checkpoint is in ${runDir}`);
      }
      const gradMap = new Map<string, tf.Tensor>();
      const byVar = new Map(params.map((p) => [p.variable.name, p.name]));
      for (const [vname, g] of Object.entries(grads)) gradMap.set(byVar.get(vname) ?? vname, g);
      const report = s.opt.step(params, gradMap);
      s.step++;
      ctx.send('ddit.train_metrics', {
        step: s.step,
        steps: inp.steps,
        loss: parts.total,
        loss_recon: parts.recon,
        loss_kl: parts.kl,
        lr: report.lr,
        grad_norm: report.gradNorm,
        samples_per_s: inp.batch_size / ((Date.now() - t0) / 1000),
      });
      ctx.progress(s.step, inp.steps);
      if (s.step % inp.save_every === 0 || s.step === inp.steps) await saveVaeRun(s, config);
    }
    if (s.step >= inp.steps) {
      const vae = await finishVae(s, config, inp.dataset, inp.seed, inp.calibration_images);
      const out = path.resolve(inp.output_file);
      await saveCheckpoint(out, { vae }, { metadata: { vae_training_steps: String(s.step) } });
      ctx.ui({ text: [`VAE trained for ${s.step} steps → ${out}`] });
      ctx.loop.stop(`VAE training reached ${inp.steps} steps`);
      return { vae };
    }
    ctx.ui({ text: [`step ${s.step}/${inp.steps}`] });
    return { vae: s.model };
  },
});
