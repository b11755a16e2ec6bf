/**
 * Checkpoint files (docs/checkpoint-format.md): one safetensors file holding the D-DiT, the VAE and the text
 * encoder under the prefixes `transformer.`, `vae.` and `text_encoder.` (PyTorch orientation, reference
 * parameter names), with their configs and the tokenizer JSON in `__metadata__`.
 *
 * Also reads single-model files in the reference layouts: tensors without a prefix and the config either in
 * metadata (`config` or `<part>_config`) or in a config.json beside the file (a diffusers / Hugging Face folder).
 */
import * as fs from 'fs';
import * as path from 'path';
import { type FloatStorage, SafetensorsFile, saveSafetensors, tf } from '../../server/runtime';
import type { StateSource } from '../../server/runtime/nn';
import { TextTokenizer } from '../text/tokenizer';
import { T5Encoder, type ResolvedT5Config, type T5Config } from '../text/t5';
import { AutoencoderKL, type ResolvedVaeConfig, type VaeConfig } from '../vae/model';
import { DDiT, type DDiTConfig, type ResolvedDDiTConfig } from './model';

export const CHECKPOINT_FORMAT = 'ddit-studio/checkpoint';
export const CHECKPOINT_VERSION = '1';

export type PartName = 'transformer' | 'vae' | 'text_encoder';
export const PART_PREFIX: Record<PartName, string> = {
  transformer: 'transformer.',
  vae: 'vae.',
  text_encoder: 'text_encoder.',
};

export interface CheckpointParts {
  transformer?: DDiT;
  vae?: AutoencoderKL;
  textEncoder?: T5Encoder;
  tokenizer?: TextTokenizer;
}

export interface SaveCheckpointOptions {
  /** Storage type of float tensors (default F32). */
  dtype?: FloatStorage;
  /** Extra metadata (string values), e.g. training step or notes. */
  metadata?: Record<string, string>;
}

export function ddItConfigOf(c: ResolvedDDiTConfig): DDiTConfig {
  const { width, text_pooling, ...rest } = c;
  // the spec's 'none' stays implicit so configs of spec models read as before
  return { ...rest, caption_projection_dim: width, ...(text_pooling !== 'none' ? { text_pooling } : {}) };
}

export function vaeConfigOf(c: ResolvedVaeConfig): VaeConfig {
  const { latent_rgb, downsample_factor: _f, ...rest } = c;
  const out: VaeConfig = {
    ...rest,
    down_block_types: c.block_out_channels.map(() => 'DownEncoderBlock2D'),
    up_block_types: c.block_out_channels.map(() => 'UpDecoderBlock2D'),
    act_fn: 'silu',
  };
  if (latent_rgb) {
    out.latent_rgb_factors = latent_rgb.factors;
    out.latent_rgb_bias = latent_rgb.bias;
  }
  return out;
}

export function t5ConfigOf(c: ResolvedT5Config): T5Config {
  const { gated: _g, activation: _a, token_shift, ...rest } = c;
  // written only when on, so files of encoders without it keep their metadata
  return { ...rest, ...(token_shift ? { token_shift } : {}), model_type: 't5' };
}

/** Writes the given parts into one checkpoint file (atomically). */
export async function saveCheckpoint(
  file: string,
  parts: CheckpointParts,
  opts: SaveCheckpointOptions = {},
): Promise<void> {
  const metadata: Record<string, string> = {
    ...opts.metadata,
    format: CHECKPOINT_FORMAT,
    format_version: CHECKPOINT_VERSION,
  };
  const states: Array<Map<string, tf.Tensor>> = [];
  try {
    if (parts.transformer) {
      metadata.transformer_config = JSON.stringify(ddItConfigOf(parts.transformer.config));
      states.push(parts.transformer.state(PART_PREFIX.transformer));
    }
    if (parts.vae) {
      metadata.vae_config = JSON.stringify(vaeConfigOf(parts.vae.config));
      states.push(parts.vae.state(PART_PREFIX.vae));
    }
    if (parts.textEncoder) {
      metadata.text_encoder_config = JSON.stringify(t5ConfigOf(parts.textEncoder.config));
      states.push(parts.textEncoder.state(PART_PREFIX.text_encoder));
    }
    if (parts.tokenizer) metadata.tokenizer = parts.tokenizer.json;
    const all: Record<string, tf.Tensor> = {};
    for (const s of states) for (const [k, v] of s) all[k] = v;
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    await saveSafetensors(file, all, { dtype: opts.dtype ?? 'F32', metadata });
  } finally {
    for (const s of states) s.forEach((t) => t.dispose());
  }
}

/** Reads tensors lazily from an open file, optionally re-rooting names (a part's prefix). */
class FileSource implements StateSource {
  constructor(private readonly f: SafetensorsFile) {}
  keys(): string[] {
    return this.f.names();
  }
  has(key: string): boolean {
    return this.f.has(key);
  }
  shape(key: string): number[] {
    return this.f.info(key).shape;
  }
  read(key: string): tf.Tensor {
    return this.f.readTensor(key);
  }
}

function parseJson<T>(text: string, what: string, file: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(
      `${path.basename(file)}: ${what} in the metadata is not valid JSON (${(e as Error).message})`,
    );
  }
}

/** What a safetensors file holds, from its header only. */
export interface CheckpointInfo {
  file: string;
  metadata: Record<string, string>;
  /** Parts stored under their prefix, with a config. */
  parts: PartName[];
  hasTokenizer: boolean;
}

export function inspectCheckpoint(file: string): CheckpointInfo {
  const f = SafetensorsFile.open(file);
  try {
    const names = f.names();
    const parts = (Object.keys(PART_PREFIX) as PartName[]).filter(
      (p) => f.metadata[`${p}_config`] !== undefined && names.some((n) => n.startsWith(PART_PREFIX[p])),
    );
    return {
      file,
      metadata: { ...f.metadata },
      parts,
      hasTokenizer: typeof f.metadata.tokenizer === 'string',
    };
  } finally {
    f.close();
  }
}

function siblingConfig(file: string): string | undefined {
  for (const name of [`${path.basename(file, '.safetensors')}.json`, 'config.json']) {
    const p = path.join(path.dirname(file), name);
    if (fs.existsSync(p)) return fs.readFileSync(p, 'utf8');
  }
  return undefined;
}

/**
 * Loads one part from a file: from a checkpoint (prefix + `<part>_config`), or from a single-model file
 * (no prefix; config in metadata `config`/`<part>_config` or a config.json beside it).
 */
function loadPart<M extends DDiT | AutoencoderKL | T5Encoder>(
  file: string,
  part: PartName,
  build: (config: never, metadata: Readonly<Record<string, string>>) => M,
): M {
  const f = SafetensorsFile.open(file);
  try {
    const prefix = f.names().some((n) => n.startsWith(PART_PREFIX[part])) ? PART_PREFIX[part] : '';
    const cfgText =
      f.metadata[`${part}_config`] ?? (prefix ? undefined : (f.metadata.config ?? siblingConfig(file)));
    if (cfgText === undefined) {
      throw new Error(
        `${path.basename(file)} has no ${part} config (expected '${part}_config' in the safetensors metadata` +
          `${prefix ? '' : ", a 'config' entry, or a config.json beside the file"})`,
      );
    }
    const model = build(parseJson<never>(cfgText, `${part}_config`, file), f.metadata);
    try {
      model.loadState(new FileSource(f), { prefix, strict: true });
    } catch (e) {
      model.dispose();
      throw new Error(`${path.basename(file)}: ${(e as Error).message}`);
    }
    return model;
  } finally {
    f.close();
  }
}

/** The D-DiT of a file, with the training step recorded beside its weights (`ddit_step`) when there is one. */
export function loadTransformer(file: string): DDiT {
  return loadPart(file, 'transformer', (c: DDiTConfig, metadata) => {
    const model = new DDiT(c);
    const step = Number(metadata.ddit_step);
    if (Number.isInteger(step) && step > 0) model.trainedSteps = step;
    return model;
  });
}

export function loadVae(file: string): AutoencoderKL {
  return loadPart(file, 'vae', (c: VaeConfig) => new AutoencoderKL(c));
}

export function loadTextEncoder(file: string): T5Encoder {
  return loadPart(file, 'text_encoder', (c: T5Config) => new T5Encoder(c));
}

/** The tokenizer stored in a checkpoint's metadata. */
export function loadCheckpointTokenizer(file: string): TextTokenizer {
  const f = SafetensorsFile.open(file);
  try {
    const json = f.metadata.tokenizer;
    if (typeof json !== 'string')
      throw new Error(`${path.basename(file)} has no 'tokenizer' entry in its metadata`);
    return TextTokenizer.fromJson(json);
  } finally {
    f.close();
  }
}

export interface LoadedCheckpoint {
  transformer: DDiT;
  vae: AutoencoderKL;
  textEncoder: T5Encoder;
  tokenizer: TextTokenizer;
}

/** Loads all four parts of a full checkpoint; a missing part is an error naming it. */
export function loadCheckpoint(file: string): LoadedCheckpoint {
  const info = inspectCheckpoint(file);
  const missing = (['transformer', 'vae', 'text_encoder'] as PartName[]).filter(
    (p) => !info.parts.includes(p),
  );
  if (!info.hasTokenizer) missing.push('tokenizer' as PartName);
  if (missing.length) {
    throw new Error(
      `${path.basename(file)} is not a full checkpoint: it lacks ${missing.join(', ')} (see docs/checkpoint-format.md; ` +
        'single models load with LoadVAE / LoadTextEncoder / LoadTokenizer)',
    );
  }
  const loaded: Partial<LoadedCheckpoint> = {};
  try {
    loaded.transformer = loadTransformer(file);
    loaded.vae = loadVae(file);
    loaded.textEncoder = loadTextEncoder(file);
    loaded.tokenizer = loadCheckpointTokenizer(file);
    return loaded as LoadedCheckpoint;
  } catch (e) {
    loaded.transformer?.dispose();
    loaded.vae?.dispose();
    loaded.textEncoder?.dispose();
    throw e;
  }
}
