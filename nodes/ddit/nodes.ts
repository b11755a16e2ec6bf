/** LoadCheckpoint and DDiTForward. */
import { defineNode } from '../../server/engine/define-node';
import type { Folders } from '../../server/engine/types';
import { tf } from '../../server/runtime/tf';
import { defaultFolders, fingerprintInside, listFiles, resolveInside } from '../image/files';
import type { Conditioning } from '../sampling/interfaces';
import { expectLatent } from '../vae/nodes';
import { loadCheckpoint } from './checkpoint';
import { inferenceModel, INFERENCE_INPUT, loaderPreference, preferInference } from './inference';
import { cachedLoad } from './loader-cache';
import type { DDiTForwardOptions, DDiTOutputs } from './model';

/** What DDiTForward needs from a DDIT_MODEL (the tfjs DDiT, or an ONNX-served model with the same call). */
interface ForwardModel {
  forward(
    z: tf.Tensor4D,
    tau: number,
    enc: tf.Tensor3D,
    opts: DDiTForwardOptions,
  ): DDiTOutputs | Promise<DDiTOutputs>;
}

export const LoadCheckpoint = defineNode({
  type: 'LoadCheckpoint',
  displayName: 'Load Checkpoint',
  category: 'loaders',
  description:
    'Loads a D-DiT checkpoint (docs/checkpoint-format.md): the transformer, VAE, T5 text encoder and tokenizer stored in one safetensors file in the models folder.',
  inputs: {
    ckpt_name: {
      type: 'COMBO',
      choices: (folders?: Folders) => listFiles((folders ?? defaultFolders()).models, ['.safetensors']),
    },
    inference: INFERENCE_INPUT,
  },
  outputs: {
    model: { type: 'DDIT_MODEL' },
    vae: { type: 'VAE' },
    text_encoder: { type: 'TEXT_ENCODER' },
    tokenizer: { type: 'TOKENIZER' },
  },
  fingerprint: ({ ckpt_name }, folders) => fingerprintInside(folders.models, ckpt_name),
  async run({ ckpt_name, inference }, ctx) {
    const file = resolveInside(ctx.folders.models, ckpt_name, 'checkpoint');
    const ck = await cachedLoad(file, 'checkpoint', () => loadCheckpoint(file));
    const pref = loaderPreference(inference, file);
    for (const m of [ck.transformer, ck.vae, ck.textEncoder]) preferInference(m, pref);
    return { model: ck.transformer, vae: ck.vae, text_encoder: ck.textEncoder, tokenizer: ck.tokenizer };
  },
});

export const DDiTForward = defineNode({
  type: 'DDiTForward',
  displayName: 'D-DiT Forward',
  category: 'ddit',
  description:
    'One D-DiT call: noisy latent + timestep τ (0–1000, τ = 1000σ) + text state → image velocity (LATENT) and raw text logits [B,M,V] (the mask column is not suppressed). A single conditioning is repeated over the latent batch.',
  inputs: {
    model: { type: 'DDIT_MODEL' },
    latent: { type: 'LATENT' },
    conditioning: { type: 'CONDITIONING' },
    timestep: { type: 'FLOAT', default: 1000, min: 0, max: 1000, step: 1 },
    heads: { type: 'COMBO', choices: ['both', 'image', 'text'], default: 'both' },
  },
  outputs: { velocity: { type: 'LATENT' }, logits: { type: 'LOGITS' } },
  async run({ model, latent, conditioning, timestep, heads }) {
    const m = inferenceModel(model) as ForwardModel;
    if (!m || typeof m.forward !== 'function') throw new Error("input 'model': expected a DDIT_MODEL");
    const z = expectLatent('latent', latent);
    const cond = conditioning as Conditioning;
    if (!cond || !(cond.embeds instanceof tf.Tensor) || cond.embeds.rank !== 3) {
      throw new Error("input 'conditioning': expected CONDITIONING { embeds: [B,M,d] }");
    }
    const B = z.shape[0];
    const Bc = cond.embeds.shape[0];
    if (Bc !== B && Bc !== 1)
      throw new Error(`input 'conditioning': batch ${Bc} does not match the latent batch ${B}`);
    const enc = Bc === B ? cond.embeds : (tf.tile(cond.embeds, [B, 1, 1]) as tf.Tensor3D);
    try {
      const out = await m.forward(z, timestep, enc, { image: heads !== 'text', text: heads !== 'image' });
      return { velocity: out.velocity ? { samples: out.velocity } : null, logits: out.logits ?? null };
    } finally {
      if (enc !== cond.embeds) enc.dispose();
    }
  },
});
