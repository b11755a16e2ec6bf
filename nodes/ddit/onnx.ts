/**
 * The D-DiT served by onnxruntime: same forward signature as the tfjs DDiT (tf tensors in and out, NHWC),
 * asynchronous. Built from a loaded DDiT (exported once, cached by weight hash: server/runtime/onnx-cache.ts)
 * or from an exported file.
 *
 *   const onnx = await OnnxDDiT.fromModel(ddit, { source: checkpointPath });
 *   const { velocity, logits } = await onnx.forward(z, tau, enc, { text: false });
 *
 * A call that wants both heads runs the 'both' graph. A call that wants one head runs that head's graph
 * ('image' or 'text', opened when first needed), which also skips the last block's work for the other
 * stream: onnxruntime runs every node of a graph whatever outputs are fetched, and the skipped work is a
 * sixteenth (text stream) to an eighth (image stream) of a bundled-model forward. A text-only call on the null
 * image tokens (z = null) uses the 'text-null' graph.
 */
import { tf } from '../../server/runtime/tf';
import { OnnxModel, type OnnxSessionOptions } from '../../server/runtime/onnx';
import {
  cachedExport,
  cachedModuleHash,
  exportDescription,
  onnxFileBytes,
  type OnnxExportSessionOptions,
  weightsUnchanged,
} from '../../server/runtime/onnx-cache';
import { type DDiTConfig, type ResolvedDDiTConfig, resolveDDiTConfig } from './config';
import type { DDiT, DDiTForwardOptions, DDiTOutputs } from './model';
import { buildDDiTGraph, type DDiTVariant } from './onnx-export';

/** Exports (or finds in the cache) one D-DiT variant and returns the file. */
export function exportDDiT(model: DDiT, variant: DDiTVariant, opts: OnnxExportSessionOptions = {}): string {
  const kind = `ddit-${variant}`;
  const hash = cachedModuleHash(model, exportDescription(kind, model.config, opts));
  return cachedExport(
    kind,
    hash,
    () =>
      buildDDiTGraph(model, {
        variant,
        contribOps: opts.contribOps,
        metadata: { weights_sha256: hash, kind },
      }),
    opts,
  ).file;
}

export class OnnxDDiT {
  readonly engine = 'onnx' as const;
  readonly config: ResolvedDDiTConfig;
  private readonly sessions = new Map<DDiTVariant, Promise<OnnxModel>>();
  private readonly mainBytes: number;
  private disposed = false;

  private constructor(
    config: DDiTConfig | ResolvedDDiTConfig,
    both: OnnxModel,
    /** Exported files of the variants known so far ('both' at least); others are exported from `source`. */
    private readonly files: { both: string } & Partial<Record<DDiTVariant, string>>,
    /** The tfjs model it was exported from (for the other graphs), if any. */
    private readonly source: DDiT | null,
    private readonly opts: OnnxExportSessionOptions,
  ) {
    this.config = 'width' in config ? config : resolveDDiTConfig(config);
    this.sessions.set('both', Promise.resolve(both));
    this.mainBytes = onnxFileBytes(files.both);
  }

  /** Exports `model` (or reuses the cached export of the same weights) and opens a session. */
  static async fromModel(model: DDiT, opts: OnnxExportSessionOptions = {}): Promise<OnnxDDiT> {
    const file = exportDDiT(model, 'both', opts);
    const session = await OnnxModel.load(file, { ...opts, label: 'D-DiT' });
    return new OnnxDDiT(model.config, session, { both: file }, model, opts);
  }

  /**
   * Opens an exported 'both' graph (e.g. a cached file) without any tfjs weights, and optionally the files of
   * other variants ('image', 'text', …), opened when first needed; without them every call runs 'both'.
   */
  static async load(
    file: string | ({ both: string } & Partial<Record<DDiTVariant, string>>),
    config: DDiTConfig,
    opts: OnnxSessionOptions = {},
  ): Promise<OnnxDDiT> {
    const files = typeof file === 'string' ? { both: file } : file;
    const session = await OnnxModel.load(files.both, { ...opts, label: opts.label ?? 'D-DiT' });
    return new OnnxDDiT(config, session, { ...files }, null, opts);
  }

  /** Whether a variant can be served (from the tfjs model, or a file given to load()). */
  private has(variant: DDiTVariant): boolean {
    if (this.sessions.has(variant) || this.files[variant] !== undefined) return true;
    // weights changed since the export: the open 'both' session serves, as it did before
    return this.source !== null && weightsUnchanged(this.source);
  }

  /** The graphs open (or being opened), in the order they were opened. */
  get openVariants(): DDiTVariant[] {
    return [...this.sessions.keys()];
  }

  /** Execution provider of the sessions ('cpu' or 'cuda'). */
  async provider(): Promise<string> {
    const open = this.sessions.values().next();
    return (await (open.done ? this.session('both') : open.value)).provider;
  }

  private session(variant: DDiTVariant): Promise<OnnxModel> {
    if (this.disposed) throw new Error('OnnxDDiT: used after dispose()');
    let s = this.sessions.get(variant);
    if (s) return s;
    let file = this.files[variant];
    if (!file) {
      const src = this.source;
      if (!src) throw new Error(`OnnxDDiT: the '${variant}' graph needs the tfjs model it was exported from`);
      if (!weightsUnchanged(src)) {
        throw new Error(
          'OnnxDDiT: the tfjs weights changed since the export; select the inference model again',
        );
      }
      file = exportDDiT(src, variant, this.opts);
    }
    const open = (): Promise<OnnxModel> =>
      OnnxModel.load(file, { ...this.opts, label: `D-DiT (${variant})` });
    // A sampler calls for one head throughout: the 'both' graph opened up front is closed before a head's
    // graph opens, unless it has served a call, so that one graph's weights and buffers are held, not two.
    const both = this.sessions.get('both');
    if (variant !== 'both' && both && this.bothCalls === 0) {
      this.sessions.delete('both');
      s = both.then((m) => m.dispose()).then(open, open);
    } else s = open();
    this.sessions.set(variant, s);
    return s;
  }

  /** Calls the 'both' graph has served. */
  private bothCalls = 0;

  /** Both heads (the samplers' DualModel interface). */
  forward(
    z: tf.Tensor4D,
    tau: tf.Tensor1D | number | number[],
    enc: tf.Tensor3D,
  ): Promise<Required<DDiTOutputs>>;
  /** Selected heads; z = null for a text-only call on the null image tokens. */
  forward(
    z: tf.Tensor4D | null,
    tau: tf.Tensor1D | number | number[],
    enc: tf.Tensor3D,
    opts: DDiTForwardOptions,
  ): Promise<DDiTOutputs>;
  async forward(
    z: tf.Tensor4D | null,
    tau: tf.Tensor1D | number | number[],
    enc: tf.Tensor3D,
    opts: DDiTForwardOptions = {},
  ): Promise<DDiTOutputs> {
    const cfg = this.config;
    if (enc.rank !== 3 || enc.shape[2] !== cfg.joint_attention_dim) {
      throw new Error(
        `D-DiT: text embeddings must be [B, M, ${cfg.joint_attention_dim}], got [${enc.shape}]`,
      );
    }
    const B = enc.shape[0];
    if (z) {
      if (z.rank !== 4 || z.shape[0] !== B)
        throw new Error(`D-DiT: latent batch ${z.shape[0]} ≠ text batch ${B}`);
      if (z.shape[3] !== cfg.in_channels)
        throw new Error(`D-DiT: latent has ${z.shape[3]} channels, the model expects ${cfg.in_channels}`);
      const p = cfg.patch_size;
      if (z.shape[1] % p !== 0 || z.shape[2] % p !== 0)
        throw new Error(`D-DiT: latent ${z.shape[1]}×${z.shape[2]} is not divisible by the patch size ${p}`);
      const G = cfg.pos_embed_max_size;
      if (z.shape[1] / p > G || z.shape[2] / p > G)
        throw new Error(
          `image patch grid ${z.shape[1] / p}×${z.shape[2] / p} exceeds the position table (${G}×${G}); use a smaller image`,
        );
    }
    const wantText = opts.text ?? true;
    const wantImage = (opts.image ?? true) && z !== null;
    const tauT = tauTensor(tau, B);
    try {
      const feeds: Record<string, tf.Tensor> = { tau: tauT, enc };
      let variant: DDiTVariant = 'both';
      if (z) {
        feeds.z = z;
        const one: DDiTVariant | null =
          wantImage && !wantText ? 'image' : wantText && !wantImage ? 'text' : null;
        if (one && this.has(one)) variant = one;
      } else {
        if (cfg.null_image_tokens === 0)
          throw new Error('D-DiT: a text-only call needs null_image_tokens in the config');
        variant = 'text-null';
      }
      const fetch = [...(wantImage ? ['velocity'] : []), ...(wantText ? ['logits'] : [])];
      if (fetch.length === 0) return {};
      if (variant === 'both') this.bothCalls++;
      const out = await (await this.session(variant)).run(feeds, fetch);
      const result: DDiTOutputs = {};
      if (out.velocity) result.velocity = out.velocity as tf.Tensor4D;
      if (out.logits) result.logits = out.logits as tf.Tensor3D;
      return result;
    } finally {
      if (tauT !== tau) tauT.dispose();
    }
  }

  /** Size of the exported graph (the session holds about this much). */
  get byteSize(): number {
    return this.mainBytes;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const s of this.sessions.values()) void s.then((m) => m.dispose()).catch(() => undefined);
    this.sessions.clear();
  }
}

function tauTensor(tau: tf.Tensor1D | number | number[], B: number): tf.Tensor1D {
  if (typeof tau === 'number') return tf.fill([B], tau) as tf.Tensor1D;
  if (Array.isArray(tau)) {
    if (tau.length !== B) throw new Error(`D-DiT: ${tau.length} timesteps for a batch of ${B}`);
    return tf.tensor1d(tau);
  }
  if (tau.size !== B) throw new Error(`D-DiT: ${tau.size} timesteps for a batch of ${B}`);
  if (tau.rank === 1 && tau.dtype === 'float32') return tau;
  return tf.reshape(tf.cast(tau, 'float32'), [B]) as tf.Tensor1D;
}
