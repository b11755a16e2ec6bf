/** LoadVAE, VAEEncode, VAEDecode, EmptyLatent. LATENT values are { samples: [B,h,w,C] } in DiT space. */
import { defineNode } from '../../server/engine/define-node';
import type { Folders } from '../../server/engine/types';
import { tf } from '../../server/runtime/tf';
import { loadVae } from '../ddit/checkpoint';
import { inferenceModel, INFERENCE_INPUT, loaderPreference, preferInference } from '../ddit/inference';
import { cachedLoad } from '../ddit/loader-cache';
import { defaultFolders, fingerprintInside, listFiles, resolveInside } from '../image/files';
import type { VaeModel } from './model';
import { OnnxVae } from './onnx-vae';

function expectVae(v: unknown): VaeModel {
  const vae = inferenceModel(v) as VaeModel;
  if (!vae || typeof vae.decode !== 'function' || !vae.config) throw new Error("input 'vae': expected a VAE");
  return vae;
}

export function expectLatent(name: string, v: unknown): tf.Tensor4D {
  const s = (v as { samples?: unknown })?.samples as tf.Tensor4D | undefined;
  if (!(s instanceof tf.Tensor) || s.rank !== 4)
    throw new Error(`input '${name}': expected a LATENT { samples: [B,h,w,C] }`);
  return s;
}

export const LoadVAE = defineNode({
  type: 'LoadVAE',
  displayName: 'Load VAE',
  category: 'loaders',
  description:
    "Loads a KL autoencoder from the models folder: a safetensors file (a checkpoint's `vae.` part, or a single diffusers AutoencoderKL file with its config in metadata or a config.json beside it), or a decoder-only .onnx file meeting the VAE decoder contract (docs/onnx-models.md).",
  inputs: {
    vae_name: {
      type: 'COMBO',
      choices: (folders?: Folders) =>
        listFiles((folders ?? defaultFolders()).models, ['.safetensors', '.onnx']),
    },
    inference: INFERENCE_INPUT,
  },
  outputs: { vae: { type: 'VAE' } },
  fingerprint: ({ vae_name }, folders) => fingerprintInside(folders.models, vae_name),
  async run({ vae_name, inference }, ctx) {
    const file = resolveInside(ctx.folders.models, vae_name, 'VAE file');
    if (file.toLowerCase().endsWith('.onnx'))
      return { vae: await cachedLoad<VaeModel>(file, 'vae', () => OnnxVae.load(file)) };
    const vae = await cachedLoad(file, 'vae', () => loadVae(file));
    preferInference(vae, loaderPreference(inference, file));
    return { vae };
  },
});

export const VAEEncode = defineNode({
  type: 'VAEEncode',
  displayName: 'VAE Encode',
  category: 'latent',
  description:
    'Encodes images into DiT-space latents, (z − shift)·scale. "sample" draws the posterior with a seeded ε (as training does, spec §2.2); "mean" takes its mean.',
  inputs: {
    pixels: { type: 'IMAGE' },
    vae: { type: 'VAE' },
    mode: { type: 'COMBO', choices: ['sample', 'mean'], default: 'sample' },
    seed: { type: 'INT', default: 0, min: 0, max: 2 ** 53 - 1 },
  },
  outputs: { latent: { type: 'LATENT' } },
  async run({ pixels, vae, mode, seed }) {
    const model = expectVae(vae);
    if (!model.encode) throw new Error("input 'vae': this VAE has no encoder (decoder-only)");
    const img = pixels as tf.Tensor4D;
    if (!(img instanceof tf.Tensor) || img.rank !== 4 || img.shape[3] !== 3)
      throw new Error("input 'pixels': expected an IMAGE [B,H,W,3]");
    const f = model.config.downsample_factor;
    if (img.shape[1] % f !== 0 || img.shape[2] % f !== 0) {
      throw new Error(
        `input 'pixels': ${img.shape[2]}×${img.shape[1]} is not divisible by the VAE's factor ${f}`,
      );
    }
    return { latent: { samples: await model.encode(img, { mode: mode as 'sample' | 'mean', seed }) } };
  },
});

export const VAEDecode = defineNode({
  type: 'VAEDecode',
  displayName: 'VAE Decode',
  category: 'latent',
  description: 'Decodes DiT-space latents (z/scale + shift) into images in [0,1].',
  inputs: { samples: { type: 'LATENT' }, vae: { type: 'VAE' } },
  outputs: { image: { type: 'IMAGE' } },
  async run({ samples, vae }) {
    const model = expectVae(vae);
    const z = expectLatent('samples', samples);
    if (z.shape[3] !== model.config.latent_channels) {
      throw new Error(
        `input 'samples': latent has ${z.shape[3]} channels, the VAE expects ${model.config.latent_channels}`,
      );
    }
    return { image: await model.decode(z) };
  },
});

export const EmptyLatent = defineNode({
  type: 'EmptyLatent',
  displayName: 'Empty Latent',
  category: 'latent',
  description:
    'A zero latent [batch, height/f, width/f, C]. With a VAE connected, C and f come from it; otherwise from the widgets.',
  inputs: {
    width: { type: 'INT', default: 256, min: 8, max: 8192, step: 8 },
    height: { type: 'INT', default: 256, min: 8, max: 8192, step: 8 },
    batch_size: { type: 'INT', default: 1, min: 1, max: 4096 },
    channels: { type: 'INT', default: 16, min: 1, max: 1024 },
    downscale: { type: 'INT', default: 8, min: 1, max: 64 },
    vae: { type: 'VAE', optional: true },
  },
  outputs: { latent: { type: 'LATENT' } },
  run({ width, height, batch_size, channels, downscale, vae }) {
    const model = vae === undefined || vae === null ? null : expectVae(vae);
    const f = model ? model.config.downsample_factor : downscale;
    const C = model ? model.config.latent_channels : channels;
    if (width % f !== 0)
      throw new Error(`input 'width': ${width} is not divisible by the downsampling factor ${f}`);
    if (height % f !== 0)
      throw new Error(`input 'height': ${height} is not divisible by the downsampling factor ${f}`);
    return { latent: { samples: tf.zeros([batch_size, height / f, width / f, C]) } };
  },
});
