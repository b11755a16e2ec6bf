/**
 * A decoder-only VAE served by onnxruntime (docs/onnx-models.md, VAE decoder contract), wrapped as a
 * VaeModel so LoadVAE / VAEDecode / EmptyLatent / the samplers treat it like the tfjs AutoencoderKL.
 *
 * Geometry: the latent channel count comes from the graph (a fixed C) or a sidecar JSON; the downsampling
 * factor from the sidecar or, failing that, from decoding one 1×1 latent at load time. A sidecar
 * (`<name>.json` or `config.json` beside the file, VaeConfig fields) may also carry latent_rgb_factors/bias.
 */
import * as fs from 'fs';
import * as path from 'path';
import { OnnxVaeDecoder, tf } from '../../server/runtime';
import type { LatentRgb } from '../sampling/interfaces';
import type { VaeGeometry, VaeModel } from './model';
import type { VaeConfig } from './config';

function sidecar(file: string): VaeConfig | null {
  for (const name of [`${path.basename(file, path.extname(file))}.json`, 'config.json']) {
    const p = path.join(path.dirname(file), name);
    if (!fs.existsSync(p)) continue;
    try {
      return JSON.parse(fs.readFileSync(p, 'utf8')) as VaeConfig;
    } catch (e) {
      throw new Error(`${name} beside ${path.basename(file)} is not valid JSON: ${(e as Error).message}`);
    }
  }
  return null;
}

export class OnnxVae implements VaeModel {
  private freed = false;

  private constructor(
    private readonly decoder: OnnxVaeDecoder,
    readonly config: VaeGeometry,
  ) {}

  static async load(file: string): Promise<OnnxVae> {
    const decoder = await OnnxVaeDecoder.load(file);
    try {
      const side = sidecar(file);
      const C = decoder.latentChannels ?? side?.latent_channels;
      if (!C) {
        throw new Error(
          `${path.basename(file)}: the graph does not fix the latent channel count; give it in a config.json beside the file (latent_channels)`,
        );
      }
      if (side?.latent_channels !== undefined && side.latent_channels !== C) {
        throw new Error(
          `${path.basename(file)}: the graph has ${C} latent channels, its config says ${side.latent_channels}`,
        );
      }
      let f = side?.block_out_channels ? 2 ** (side.block_out_channels.length - 1) : 0;
      if (!f) {
        const probe = tf.zeros([1, 1, 1, C]) as tf.Tensor4D;
        try {
          const img = await decoder.decode(probe);
          f = img.shape[1];
          img.dispose();
        } finally {
          probe.dispose();
        }
      }
      let latentRgb: LatentRgb | null = null;
      if (side?.latent_rgb_factors) {
        if (side.latent_rgb_factors.length !== C || side.latent_rgb_factors.some((r) => r.length !== 3)) {
          throw new Error(`${path.basename(file)}: latent_rgb_factors must be ${C}×3`);
        }
        latentRgb = { factors: side.latent_rgb_factors, bias: side.latent_rgb_bias ?? [0, 0, 0] };
      }
      return new OnnxVae(decoder, { latent_channels: C, downsample_factor: f, latent_rgb: latentRgb });
    } catch (e) {
      decoder.dispose();
      throw e;
    }
  }

  get latentRgb(): LatentRgb | undefined {
    return this.config.latent_rgb ?? undefined;
  }

  decode(latent: tf.Tensor4D): Promise<tf.Tensor4D> {
    return this.decoder.decode(latent);
  }

  get byteSize(): number {
    return this.decoder.byteSize;
  }

  get disposed(): boolean {
    return this.freed;
  }

  dispose(): void {
    if (!this.freed) this.decoder.dispose();
    this.freed = true;
  }
}
