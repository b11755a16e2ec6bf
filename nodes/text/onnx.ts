/**
 * The T5 encoder served by onnxruntime: encode(ids [B, M]) → hidden states [B, M, d_model] like T5Encoder,
 * asynchronous. ids are checked against the vocabulary before the run.
 *
 *   const enc = await OnnxTextEncoder.fromModel(t5, { source: checkpointPath });
 *   const states = await enc.encode(ids);
 */
import { tf } from '../../server/runtime/tf';
import { OnnxModel, type OnnxSessionOptions } from '../../server/runtime/onnx';
import {
  cachedExport,
  cachedModuleHash,
  exportDescription,
  onnxFileBytes,
  type OnnxExportSessionOptions,
} from '../../server/runtime/onnx-cache';
import { resolveT5Config, type ResolvedT5Config, type T5Config, type T5Encoder } from './t5';
import { buildT5Graph } from './onnx-export';

export function exportT5(enc: T5Encoder, opts: OnnxExportSessionOptions = {}): string {
  const kind = 'text-encoder';
  const hash = cachedModuleHash(enc, exportDescription(kind, enc.config, opts));
  return cachedExport(
    kind,
    hash,
    () => buildT5Graph(enc, { contribOps: opts.contribOps, metadata: { weights_sha256: hash, kind } }),
    opts,
  ).file;
}

export class OnnxTextEncoder {
  readonly engine = 'onnx' as const;
  readonly config: ResolvedT5Config;

  private constructor(
    config: ResolvedT5Config,
    private readonly session: OnnxModel,
    readonly byteSize: number,
  ) {
    this.config = config;
  }

  static async fromModel(enc: T5Encoder, opts: OnnxExportSessionOptions = {}): Promise<OnnxTextEncoder> {
    const file = exportT5(enc, opts);
    const s = await OnnxModel.load(file, { ...opts, label: 'text encoder' });
    return new OnnxTextEncoder(enc.config, s, onnxFileBytes(file));
  }

  static async load(
    file: string,
    config: T5Config | ResolvedT5Config,
    opts: OnnxSessionOptions = {},
  ): Promise<OnnxTextEncoder> {
    const s = await OnnxModel.load(file, { ...opts, label: opts.label ?? 'text encoder' });
    const c = 'gated' in config ? config : resolveT5Config(config);
    return new OnnxTextEncoder(c, s, onnxFileBytes(file));
  }

  async encode(ids: tf.Tensor2D | number[][]): Promise<tf.Tensor3D> {
    const t = Array.isArray(ids) ? tf.tensor2d(ids, undefined, 'int32') : ids;
    try {
      if (t.rank !== 2) throw new Error(`T5 encode: ids must be [B, M], got [${t.shape}]`);
      const values = (await t.data()) as Int32Array | Float32Array;
      const V = this.config.vocab_size;
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (!Number.isInteger(v) || v < 0 || v >= V) {
          throw new Error(`T5 encode: token id ${v} is outside the vocabulary (size ${V})`);
        }
      }
      const feed = t.dtype === 'int32' ? t : tf.cast(t, 'int32');
      try {
        const { hidden } = await this.session.run({ ids: feed }, ['hidden']);
        return hidden as tf.Tensor3D;
      } finally {
        if (feed !== t) feed.dispose();
      }
    } finally {
      if (t !== ids) t.dispose();
    }
  }

  dispose(): void {
    this.session.dispose();
  }
}
