/**
 * The KL autoencoder served by onnxruntime, implementing VaeModel like the tfjs AutoencoderKL: decode
 * (DiT-space latent → image in [0, 1]) and encode (image → DiT-space latent, posterior mean or a seeded sample
 * drawn exactly as the tfjs model draws it). Asynchronous; tensors in and out are tf tensors, NHWC.
 *
 *   const vae = await OnnxAutoencoderKL.fromModel(autoencoder, { source: checkpointPath });
 *   const image = await vae.decode(latent);
 *
 * The decoder graph is exported and opened at once; the encoder graph when encode() is first called.
 */
import { tf } from '../../server/runtime/tf';
import { Rng } from '../../server/runtime/nn';
import { OnnxModel, type OnnxSessionOptions } from '../../server/runtime/onnx';
import {
  cachedExport,
  cachedModuleHash,
  exportDescription,
  onnxFileBytes,
  type OnnxExportSessionOptions,
  weightsUnchanged,
} from '../../server/runtime/onnx-cache';
import type { LatentRgb } from '../sampling/interfaces';
import type { AutoencoderKL, EncodeOptions, ResolvedVaeConfig, VaeModel } from './model';
import { buildVaeGraph, type VaePart } from './onnx-export';

/** Exports (or finds in the cache) the decoder or encoder graph and returns the file. */
export function exportVae(vae: AutoencoderKL, part: VaePart, opts: OnnxExportSessionOptions = {}): string {
  const kind = `vae-${part}`;
  const hash = cachedModuleHash(vae, exportDescription(kind, vae.config, opts));
  return cachedExport(
    kind,
    hash,
    () => buildVaeGraph(vae, part, { contribOps: opts.contribOps, metadata: { weights_sha256: hash, kind } }),
    opts,
  ).file;
}

export class OnnxAutoencoderKL implements VaeModel {
  readonly engine = 'onnx' as const;
  private encoder: Promise<OnnxModel> | null = null;
  private bytes: number;
  private disposed = false;

  private constructor(
    readonly config: ResolvedVaeConfig,
    private readonly decoder: OnnxModel,
    decoderBytes: number,
    private readonly source: AutoencoderKL | null,
    private readonly opts: OnnxExportSessionOptions,
    private readonly encoderFile: string | null,
  ) {
    this.bytes = decoderBytes;
  }

  static async fromModel(
    vae: AutoencoderKL,
    opts: OnnxExportSessionOptions = {},
  ): Promise<OnnxAutoencoderKL> {
    const file = exportVae(vae, 'decoder', opts);
    const dec = await OnnxModel.load(file, { ...opts, label: 'VAE decoder' });
    return new OnnxAutoencoderKL(vae.config, dec, onnxFileBytes(file), vae, opts, null);
  }

  /** Opens exported graphs (e.g. cached files) without tfjs weights; no encoder file = decode only. */
  static async load(
    config: ResolvedVaeConfig,
    files: { decoder: string; encoder?: string },
    opts: OnnxSessionOptions = {},
  ): Promise<OnnxAutoencoderKL> {
    const dec = await OnnxModel.load(files.decoder, { ...opts, label: 'VAE decoder' });
    return new OnnxAutoencoderKL(
      config,
      dec,
      onnxFileBytes(files.decoder),
      null,
      opts,
      files.encoder ?? null,
    );
  }

  get latentRgb(): LatentRgb | undefined {
    return this.config.latent_rgb ?? undefined;
  }

  get byteSize(): number {
    return this.bytes;
  }

  private live(): void {
    if (this.disposed) throw new Error('OnnxAutoencoderKL: used after dispose()');
  }

  async decode(latent: tf.Tensor4D): Promise<tf.Tensor4D> {
    this.live();
    const C = this.config.latent_channels;
    if (latent.rank !== 4 || latent.shape[3] !== C) {
      throw new Error(`VAE decode: latent has ${latent.shape[3]} channels, the VAE expects ${C}`);
    }
    const { image } = await this.decoder.run({ latent }, ['image']);
    return image as tf.Tensor4D;
  }

  private encoderSession(): Promise<OnnxModel> {
    if (!this.encoder) {
      let file = this.encoderFile;
      if (!file) {
        const src = this.source;
        if (!src) throw new Error('OnnxAutoencoderKL: this VAE was opened without an encoder graph');
        if (!weightsUnchanged(src)) {
          throw new Error(
            'OnnxAutoencoderKL: the tfjs weights changed since the export; select the inference model again',
          );
        }
        file = exportVae(src, 'encoder', this.opts);
      }
      this.bytes += onnxFileBytes(file);
      this.encoder = OnnxModel.load(file, { ...this.opts, label: 'VAE encoder' });
    }
    return this.encoder;
  }

  /** Image [B,H,W,3] in [0,1] → DiT-space latent: the posterior mean, or a sample with a seeded ε. */
  async encode(image: tf.Tensor4D, opts: EncodeOptions = {}): Promise<tf.Tensor4D> {
    this.live();
    const { downsample_factor: f, in_channels } = this.config;
    const [, H, W, C] = image.shape;
    if (image.rank !== 4 || C !== in_channels)
      throw new Error(`VAE encode: image has ${C} channels, the VAE expects ${in_channels}`);
    if (H % f !== 0 || W % f !== 0) throw new Error(`VAE encode: image ${W}×${H} is not divisible by ${f}`);
    const mode = opts.mode ?? 'sample';
    const out = await (
      await this.encoderSession()
    ).run({ image }, mode === 'mean' ? ['mean'] : ['mean', 'logvar']);
    const { scaling_factor: scale, shift_factor: shift } = this.config;
    return tf.tidy(() => {
      let z: tf.Tensor = out.mean;
      if (mode !== 'mean') {
        // the same ε stream as AutoencoderKL.encode
        const eps = new Rng(opts.seed ?? 0, 'vae.posterior').fillNormal(new Float32Array(out.mean.size));
        z = tf.add(out.mean, tf.mul(tf.exp(tf.mul(out.logvar, 0.5)), tf.tensor(eps, out.mean.shape)));
      }
      const dit = tf.mul(tf.sub(z, shift), scale) as tf.Tensor4D;
      tf.dispose(Object.values(out));
      return dit;
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.decoder.dispose();
    void this.encoder?.then((m) => m.dispose()).catch(() => undefined);
  }
}
