/**
 * KL autoencoder in the layout of diffusers' AutoencoderKL (encoder/decoder of ResNet down/up blocks, a mid
 * block with one attention, optional quant convs), NHWC on tfjs.
 *
 * Public interface (what nodes, samplers and trainers use):
 *
 *   interface VaeModel                     any VAE a node can take (tfjs below, or OnnxVae in onnx-vae.ts)
 *     config: VaeGeometry                  latent_channels, downsample_factor, latent_rgb (AutoencoderKL: the full
 *                                          ResolvedVaeConfig, with scaling_factor and shift_factor)
 *     latentRgb?: LatentRgb                preview factors (rgb ∈ [−1,1] ≈ z·F + b), or undefined
 *     decode(latent) → image               latent [B,h,w,C] in DiT space → image [B,H,W,3] in [0,1]
 *     encode?(image, {mode, seed}) → latent image [B,H,W,3] in [0,1] → DiT-space latent (posterior sample
 *                                          with a seeded ε, or its mean); absent for decoder-only models
 *     dispose(), byteSize
 *
 *   class AutoencoderKL implements VaeModel (a Module: state()/loadState() with diffusers names)
 *     new AutoencoderKL(config).initialize(seed)  or  .loadState(torchStateMap)
 *     encodeMoments(x∈[−1,1]) → {mean, logvar}   raw posterior (before shift/scale)
 *     decodeRaw(zRaw) → x ∈ [−1,1] (unclipped)
 *     toDit(zRaw) = (zRaw − shift)·scale,  fromDit(z) = z/scale + shift
 *   encode/decode run inside tf.tidy; encodeMoments/decodeRaw are differentiable (for VAE training).
 */
import { tf } from '../../server/runtime/tf';
import {
  attention,
  Conv2d,
  GroupNorm,
  Linear,
  Module,
  Rng,
  silu,
  upsampleNearest2x,
} from '../../server/runtime/nn';
import type { LatentRgb } from '../sampling/interfaces';
import { type ResolvedVaeConfig, resolveVaeConfig, type VaeConfig } from './config';

export { type ResolvedVaeConfig, resolveVaeConfig, SD3_VAE_CONFIG, type VaeConfig } from './config';

export interface EncodeOptions {
  /** 'sample' draws z = mean + std·ε with a seeded ε (the spec's training path); 'mean' takes the mean. */
  mode?: 'sample' | 'mean';
  seed?: number;
}

/** What nodes need to know about any VAE (the tfjs ResolvedVaeConfig has these and more). */
export interface VaeGeometry {
  latent_channels: number;
  /** Pixels per latent cell along each side. */
  downsample_factor: number;
  latent_rgb?: LatentRgb | null;
}

export interface VaeModel {
  readonly config: VaeGeometry;
  readonly latentRgb?: LatentRgb;
  decode(latent: tf.Tensor4D): tf.Tensor4D | Promise<tf.Tensor4D>;
  encode?(image: tf.Tensor4D, opts?: EncodeOptions): tf.Tensor4D | Promise<tf.Tensor4D>;
  readonly byteSize: number;
  dispose(): void;
}

const EPS = 1e-6;

class ResnetBlock extends Module {
  readonly norm1: GroupNorm;
  readonly conv1: Conv2d;
  readonly norm2: GroupNorm;
  readonly conv2: Conv2d;
  readonly shortcut: Conv2d | null;
  constructor(inC: number, outC: number, groups: number) {
    super();
    this.norm1 = this.module('norm1', new GroupNorm(groups, inC, EPS));
    this.conv1 = this.module('conv1', new Conv2d(inC, outC, 3));
    this.norm2 = this.module('norm2', new GroupNorm(groups, outC, EPS));
    this.conv2 = this.module('conv2', new Conv2d(outC, outC, 3));
    this.shortcut = inC !== outC ? this.module('conv_shortcut', new Conv2d(inC, outC, 1)) : null;
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    let h = this.conv1.forward(silu(this.norm1.forward(x)) as tf.Tensor4D);
    h = this.conv2.forward(silu(this.norm2.forward(h)) as tf.Tensor4D);
    const skip = this.shortcut ? this.shortcut.forward(x) : x;
    return tf.add(skip, h);
  }
}

/** Single-head self-attention over the H·W positions, with a residual (diffusers' VAE attention). */
class SpatialAttention extends Module {
  readonly norm: GroupNorm;
  readonly toQ: Linear;
  readonly toK: Linear;
  readonly toV: Linear;
  readonly toOut: Linear;
  constructor(channels: number, groups: number) {
    super();
    this.norm = this.module('group_norm', new GroupNorm(groups, channels, EPS));
    this.toQ = this.module('to_q', new Linear(channels, channels, { init: 'torch', biasInit: 'torch' }));
    this.toK = this.module('to_k', new Linear(channels, channels, { init: 'torch', biasInit: 'torch' }));
    this.toV = this.module('to_v', new Linear(channels, channels, { init: 'torch', biasInit: 'torch' }));
    this.toOut = this.module(
      'to_out.0',
      new Linear(channels, channels, { init: 'torch', biasInit: 'torch' }),
    );
    // names used by diffusers before 0.14
    for (const [old, cur] of [
      ['query', 'to_q'],
      ['key', 'to_k'],
      ['value', 'to_v'],
      ['proj_attn', 'to_out.0'],
    ]) {
      this.aliases.set(`${old}.weight`, `${cur}.weight`);
      this.aliases.set(`${old}.bias`, `${cur}.bias`);
    }
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    const [B, H, W, C] = x.shape;
    const h = tf.reshape(this.norm.forward(x), [B, H * W, C]);
    const q = this.toQ.forward(h) as tf.Tensor3D;
    const k = this.toK.forward(h) as tf.Tensor3D;
    const v = this.toV.forward(h) as tf.Tensor3D;
    const o = this.toOut.forward(attention(q, k, v, { heads: 1 }));
    return tf.add(x, tf.reshape(o, [B, H, W, C]));
  }
}

class MidBlock extends Module {
  readonly res0: ResnetBlock;
  readonly attn: SpatialAttention | null;
  readonly res1: ResnetBlock;
  constructor(channels: number, groups: number, withAttention: boolean) {
    super();
    this.res0 = this.module('resnets.0', new ResnetBlock(channels, channels, groups));
    this.attn = withAttention ? this.module('attentions.0', new SpatialAttention(channels, groups)) : null;
    this.res1 = this.module('resnets.1', new ResnetBlock(channels, channels, groups));
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    let h = this.res0.forward(x);
    if (this.attn) h = this.attn.forward(h);
    return this.res1.forward(h);
  }
}

class DownBlock extends Module {
  readonly resnets: ResnetBlock[] = [];
  readonly down: Conv2d | null;
  constructor(inC: number, outC: number, layers: number, groups: number, downsample: boolean) {
    super();
    for (let j = 0; j < layers; j++) {
      this.resnets.push(this.module(`resnets.${j}`, new ResnetBlock(j === 0 ? inC : outC, outC, groups)));
    }
    this.down = downsample
      ? this.module('downsamplers.0.conv', new Conv2d(outC, outC, 3, { stride: 2, padding: 0 }))
      : null;
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    let h = x;
    for (const r of this.resnets) h = r.forward(h);
    if (this.down) {
      // diffusers pads (right 1, bottom 1) before the stride-2 valid conv
      const padded = tf.pad(h, [
        [0, 0],
        [0, 1],
        [0, 1],
        [0, 0],
      ]);
      h = this.down.forward(padded);
    }
    return h;
  }
}

class UpBlock extends Module {
  readonly resnets: ResnetBlock[] = [];
  readonly up: Conv2d | null;
  constructor(inC: number, outC: number, layers: number, groups: number, upsample: boolean) {
    super();
    for (let j = 0; j < layers; j++) {
      this.resnets.push(this.module(`resnets.${j}`, new ResnetBlock(j === 0 ? inC : outC, outC, groups)));
    }
    this.up = upsample ? this.module('upsamplers.0.conv', new Conv2d(outC, outC, 3)) : null;
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    let h = x;
    for (const r of this.resnets) h = r.forward(h);
    if (this.up) h = this.up.forward(upsampleNearest2x(h));
    return h;
  }
}

class Encoder extends Module {
  readonly convIn: Conv2d;
  readonly downs: DownBlock[] = [];
  readonly mid: MidBlock;
  readonly normOut: GroupNorm;
  readonly convOut: Conv2d;
  constructor(c: ResolvedVaeConfig) {
    super();
    const ch = c.block_out_channels;
    const g = c.norm_num_groups;
    this.convIn = this.module('conv_in', new Conv2d(c.in_channels, ch[0], 3));
    let prev = ch[0];
    ch.forEach((out, i) => {
      this.downs.push(
        this.module(`down_blocks.${i}`, new DownBlock(prev, out, c.layers_per_block, g, i < ch.length - 1)),
      );
      prev = out;
    });
    this.mid = this.module('mid_block', new MidBlock(prev, g, c.mid_block_add_attention));
    this.normOut = this.module('conv_norm_out', new GroupNorm(g, prev, EPS));
    this.convOut = this.module('conv_out', new Conv2d(prev, 2 * c.latent_channels, 3));
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    let h = this.convIn.forward(x);
    for (const d of this.downs) h = d.forward(h);
    h = this.mid.forward(h);
    return this.convOut.forward(silu(this.normOut.forward(h)) as tf.Tensor4D);
  }
}

class Decoder extends Module {
  readonly convIn: Conv2d;
  readonly mid: MidBlock;
  readonly ups: UpBlock[] = [];
  readonly normOut: GroupNorm;
  readonly convOut: Conv2d;
  constructor(c: ResolvedVaeConfig) {
    super();
    const rev = c.block_out_channels.slice().reverse();
    const g = c.norm_num_groups;
    this.convIn = this.module('conv_in', new Conv2d(c.latent_channels, rev[0], 3));
    this.mid = this.module('mid_block', new MidBlock(rev[0], g, c.mid_block_add_attention));
    let prev = rev[0];
    rev.forEach((out, i) => {
      this.ups.push(
        this.module(`up_blocks.${i}`, new UpBlock(prev, out, c.layers_per_block + 1, g, i < rev.length - 1)),
      );
      prev = out;
    });
    this.normOut = this.module('conv_norm_out', new GroupNorm(g, prev, EPS));
    this.convOut = this.module('conv_out', new Conv2d(prev, c.out_channels, 3));
  }
  forward(z: tf.Tensor4D): tf.Tensor4D {
    let h = this.mid.forward(this.convIn.forward(z));
    for (const u of this.ups) h = u.forward(h);
    return this.convOut.forward(silu(this.normOut.forward(h)) as tf.Tensor4D);
  }
}

export class AutoencoderKL extends Module implements VaeModel {
  readonly config: ResolvedVaeConfig;
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  readonly quantConv: Conv2d | null;
  readonly postQuantConv: Conv2d | null;

  constructor(config: VaeConfig) {
    super();
    this.config = resolveVaeConfig(config);
    const L = this.config.latent_channels;
    this.encoder = this.module('encoder', new Encoder(this.config));
    this.decoder = this.module('decoder', new Decoder(this.config));
    this.quantConv = this.config.use_quant_conv
      ? this.module('quant_conv', new Conv2d(2 * L, 2 * L, 1))
      : null;
    this.postQuantConv = this.config.use_post_quant_conv
      ? this.module('post_quant_conv', new Conv2d(L, L, 1))
      : null;
  }

  get latentRgb(): LatentRgb | undefined {
    return this.config.latent_rgb ?? undefined;
  }

  /** Raw posterior of x ∈ [−1,1] [B,H,W,in]: mean and log-variance (clamped to [−30, 20]) [B,h,w,C]. */
  encodeMoments(x: tf.Tensor4D): { mean: tf.Tensor4D; logvar: tf.Tensor4D } {
    const { downsample_factor: f, in_channels } = this.config;
    const [, H, W, C] = x.shape;
    if (C !== in_channels)
      throw new Error(`VAE encode: image has ${C} channels, the VAE expects ${in_channels}`);
    if (H % f !== 0 || W % f !== 0) throw new Error(`VAE encode: image ${W}×${H} is not divisible by ${f}`);
    let m = this.encoder.forward(x);
    if (this.quantConv) m = this.quantConv.forward(m);
    const [mean, logvar] = tf.split(m, 2, 3) as tf.Tensor4D[];
    return { mean, logvar: tf.clipByValue(logvar, -30, 20) };
  }

  /** Raw latent [B,h,w,C] → x ∈ [−1,1] (unclipped) [B,H,W,out]. */
  decodeRaw(z: tf.Tensor4D): tf.Tensor4D {
    const C = z.shape[3];
    if (C !== this.config.latent_channels) {
      throw new Error(`VAE decode: latent has ${C} channels, the VAE expects ${this.config.latent_channels}`);
    }
    const h = this.postQuantConv ? this.postQuantConv.forward(z) : z;
    return this.decoder.forward(h);
  }

  toDit(zRaw: tf.Tensor): tf.Tensor4D {
    return tf.mul(tf.sub(zRaw, this.config.shift_factor), this.config.scaling_factor) as tf.Tensor4D;
  }

  fromDit(z: tf.Tensor): tf.Tensor4D {
    return tf.add(tf.div(z, this.config.scaling_factor), this.config.shift_factor) as tf.Tensor4D;
  }

  /** Image [B,H,W,3] in [0,1] → DiT-space latent (posterior sample with a seeded ε, or the mean). */
  encode(image: tf.Tensor4D, opts: EncodeOptions = {}): tf.Tensor4D {
    const mode = opts.mode ?? 'sample';
    return tf.tidy(() => {
      const { mean, logvar } = this.encodeMoments(tf.sub(tf.mul(image, 2), 1) as tf.Tensor4D);
      if (mode === 'mean') return this.toDit(mean);
      const eps = new Rng(opts.seed ?? 0, 'vae.posterior').fillNormal(new Float32Array(mean.size));
      const z = tf.add(mean, tf.mul(tf.exp(tf.mul(logvar, 0.5)), tf.tensor(eps, mean.shape)));
      return this.toDit(z);
    });
  }

  /** DiT-space latent → image [B,H,W,3] in [0,1] (clipped). */
  decode(latent: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const x = this.decodeRaw(this.fromDit(latent));
      return tf.clipByValue(tf.div(tf.add(x, 1), 2), 0, 1) as tf.Tensor4D;
    });
  }
}
