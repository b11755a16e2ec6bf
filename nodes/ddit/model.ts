/**
 * The D-DiT transformer (spec §1): an SD3-style MM-DiT whose every block is a full joint block, with a
 * flow-matching image head and a masked-diffusion text head.
 *
 * Public interface (what samplers, losses and trainers use):
 *
 *   const model = new DDiT(config).initialize(seed);      // or: new DDiT(config).loadState(torchStateMap)
 *   const { velocity, logits } = model.forward(z, tau, enc, { image?: true, text?: true });
 *     z        Tensor4D [B, h, w, C]  noisy latent, NHWC (h, w divisible by patch_size); null = text-only call
 *                                     with the null image tokens (needs config.null_image_tokens > 0)
 *     tau      Tensor1D [B] | number | number[]   image timestep on the 0–1000 scale (τ = 1000σ)
 *     enc      Tensor3D [B, M, joint_attention_dim]  text-encoder output of the current text state
 *     velocity Tensor4D [B, h, w, C]  (absent when opts.image === false or z is null)
 *     logits   Tensor3D [B, M, vocab_size], raw (the mask column is NOT forced to −∞; callers do that)
 *   Skipping a head (opts.image / opts.text = false) also skips the last block's work for that stream.
 *   forward() runs inside its own tf.tidy: only the returned tensors survive; it is differentiable
 *   (use model.trainableVariables() with tf.variableGrads / an optimiser).
 *
 *   model.config                ResolvedDDiTConfig (width, mask_token_id, …)
 *   model.state() / loadState() parameter names of spec §1.8, PyTorch orientation
 *   model.numParams, model.byteSize, model.dispose()
 *
 * No attention mask anywhere; text tokens get no positional embedding (position comes from the encoder).
 */
import { tf } from '../../server/runtime/tf';
import {
  adaLayerNorm,
  chunkLast,
  concatLinear,
  cropPosTable,
  gatedAdd,
  geluTanh,
  jointAttention,
  layerNorm,
  Linear,
  linear,
  Module,
  normal,
  type Parameter,
  silu,
  sincosPosTable,
  timestepEmbedding,
  xavierUniform,
} from '../../server/runtime/nn';
import { type DDiTConfig, type ResolvedDDiTConfig, resolveDDiTConfig } from './config';

export { type DDiTConfig, type ResolvedDDiTConfig, DDIT_REFERENCE_CONFIG, resolveDDiTConfig } from './config';

export interface DDiTForwardOptions {
  /** Compute the velocity head (default true). */
  image?: boolean;
  /** Compute the text logits (default true). */
  text?: boolean;
}

export interface DDiTOutputs {
  velocity?: tf.Tensor4D;
  logits?: tf.Tensor3D;
}

const zeroInit = 'zeros' as const;

/** Timestep MLP: 256 sinusoid channels → D → D. */
class TimestepEmbedder extends Module {
  readonly linear1: Linear;
  readonly linear2: Linear;
  constructor(width: number) {
    super();
    this.linear1 = this.module('linear_1', new Linear(256, width, { init: { normal: 0.02 } }));
    this.linear2 = this.module('linear_2', new Linear(width, width, { init: { normal: 0.02 } }));
  }
  forward(tau: tf.Tensor): tf.Tensor2D {
    return this.linear2.forward(silu(this.linear1.forward(timestepEmbedding(tau, 256)))) as tf.Tensor2D;
  }
}

/** SD3's pooled-text projection: d_enc → D → D (SiLU between); the output layer starts at zero. */
class PooledTextEmbedder extends Module {
  readonly linear1: Linear;
  readonly linear2: Linear;
  constructor(encWidth: number, width: number) {
    super();
    this.linear1 = this.module('linear_1', new Linear(encWidth, width));
    // zero: adding the path to a trained model leaves its outputs unchanged until training moves it
    this.linear2 = this.module('linear_2', new Linear(width, width, { init: zeroInit }));
  }
  /** enc [B,M,d_enc] → [B,D] from the mean over the M positions. */
  forward(enc: tf.Tensor3D): tf.Tensor2D {
    return this.linear2.forward(silu(this.linear1.forward(tf.mean(enc, 1)))) as tf.Tensor2D;
  }
}

class FeedForward extends Module {
  readonly proj: Linear;
  readonly out: Linear;
  constructor(width: number) {
    super();
    this.proj = this.module('net.0.proj', new Linear(width, 4 * width));
    this.out = this.module('net.2', new Linear(4 * width, width));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return this.out.forward(geluTanh(this.proj.forward(x)));
  }
}

class JointAttention extends Module {
  readonly toQ: Linear;
  readonly toK: Linear;
  readonly toV: Linear;
  readonly addQ: Linear;
  readonly addK: Linear;
  readonly addV: Linear;
  readonly toOut: Linear;
  readonly toAddOut: Linear;
  constructor(width: number) {
    super();
    this.toQ = this.module('to_q', new Linear(width, width));
    this.toK = this.module('to_k', new Linear(width, width));
    this.toV = this.module('to_v', new Linear(width, width));
    this.addQ = this.module('add_q_proj', new Linear(width, width));
    this.addK = this.module('add_k_proj', new Linear(width, width));
    this.addV = this.module('add_v_proj', new Linear(width, width));
    this.toOut = this.module('to_out.0', new Linear(width, width));
    this.toAddOut = this.module('to_add_out', new Linear(width, width));
  }
}

/** One full joint block (spec §1.6); used for every block, including the last. */
export class JointBlock extends Module {
  readonly norm1: Linear;
  readonly norm1Context: Linear;
  readonly attn: JointAttention;
  readonly ff: FeedForward;
  readonly ffContext: FeedForward;

  constructor(
    readonly width: number,
    readonly heads: number,
  ) {
    super();
    this.norm1 = this.module('norm1.linear', new Linear(width, 6 * width, { init: zeroInit }));
    this.norm1Context = this.module('norm1_context.linear', new Linear(width, 6 * width, { init: zeroInit }));
    this.attn = this.module('attn', new JointAttention(width));
    this.ff = this.module('ff', new FeedForward(width));
    this.ffContext = this.module('ff_context', new FeedForward(width));
  }

  /**
   * x [B,N,D] image tokens, c [B,M,D] text tokens, sy = SiLU(y) [B,D]. A stream whose output is not
   * needed (`keepX`/`keepC` false, only sensible in the last block) is returned unchanged.
   */
  forward(
    x: tf.Tensor3D,
    c: tf.Tensor3D,
    sy: tf.Tensor2D,
    keepX = true,
    keepC = true,
  ): [tf.Tensor3D, tf.Tensor3D] {
    // order: shift1, scale1, gate1, shift2, scale2, gate2
    const mx = chunkLast(this.norm1.forward(sy) as tf.Tensor2D, 6);
    const mc = chunkLast(this.norm1Context.forward(sy) as tf.Tensor2D, 6);
    const xn = adaLayerNorm(x, mx[0], mx[1]);
    const cn = adaLayerNorm(c, mc[0], mc[1]);
    const a = this.attn;
    // One q|k|v product per stream (the weights keep their checkpoint names), and the joint sequence is
    // image tokens then text tokens.
    const [attnX, attnC] = jointAttention(
      concatLinear(xn, [a.toQ, a.toK, a.toV]) as tf.Tensor3D,
      concatLinear(cn, [a.addQ, a.addK, a.addV]) as tf.Tensor3D,
      { heads: this.heads },
    );
    let xo = x;
    let co = c;
    if (keepX) {
      const ox = a.toOut.forward(attnX);
      xo = gatedAdd(x, mx[2], ox);
      xo = gatedAdd(xo, mx[5], this.ff.forward(adaLayerNorm(xo, mx[3], mx[4])));
    }
    if (keepC) {
      const oc = a.toAddOut.forward(attnC);
      co = gatedAdd(c, mc[2], oc);
      co = gatedAdd(co, mc[5], this.ffContext.forward(adaLayerNorm(co, mc[3], mc[4])));
    }
    return [xo, co];
  }
}

export class DDiT extends Module {
  readonly config: ResolvedDDiTConfig;
  readonly patchWeight: Parameter;
  readonly patchBias: Parameter;
  readonly posTable: Parameter;
  readonly timeEmbedder: TimestepEmbedder;
  /** Present when config.text_pooling is 'mean' (not in D-DiT; see the config). */
  readonly textEmbedder: PooledTextEmbedder | null;
  readonly contextEmbedder: Linear;
  readonly blocks: JointBlock[] = [];
  readonly imageNormOut: Linear;
  readonly imageProjOut: Linear;
  readonly textProjOut: Linear;
  readonly nullImageEmbd: Parameter | null;
  /**
   * The optimiser step a training run exported these weights at (a checkpoint's `ddit_step` metadata), so a
   * later run can continue its schedule from there; undefined for weights of unknown origin.
   */
  trainedSteps?: number;

  constructor(config: DDiTConfig) {
    super();
    const cfg = resolveDDiTConfig(config);
    this.config = cfg;
    const D = cfg.width;
    const p = cfg.patch_size;
    const C = cfg.in_channels;
    const G = cfg.pos_embed_max_size;
    // The patch conv (D, C, p, p) is held as HWIO [p, p, C, D] and applied as a matmul on patches cut in
    // (r, q, ch) order: identical to the stride-p conv, and trainable where the conv filter gradient is missing.
    this.patchWeight = this.param('pos_embed.proj.weight', {
      shape: [p, p, C, D],
      layout: 'conv2d',
      init: (seed, label) => xavierUniform([p, p, C, D], p * p * C, D, seed, label),
    });
    this.patchBias = this.param('pos_embed.proj.bias', { shape: [D], init: () => tf.zeros([D]) });
    this.posTable = this.buffer('pos_embed.pos_embed', {
      shape: [1, G * G, D],
      init: () => tf.tensor(sincosPosTable(D, G, cfg.sample_size / p), [1, G * G, D]),
    });
    this.timeEmbedder = this.module('time_text_embed.timestep_embedder', new TimestepEmbedder(D));
    this.textEmbedder =
      cfg.text_pooling === 'mean'
        ? this.module('time_text_embed.text_embedder', new PooledTextEmbedder(cfg.joint_attention_dim, D))
        : null;
    this.contextEmbedder = this.module('context_embedder', new Linear(cfg.joint_attention_dim, D));
    for (let i = 0; i < cfg.num_layers; i++) {
      this.blocks.push(this.module(`transformer_blocks.${i}`, new JointBlock(D, cfg.num_attention_heads)));
    }
    this.imageNormOut = this.module('image_norm_out.linear', new Linear(D, 2 * D, { init: zeroInit }));
    this.imageProjOut = this.module(
      'image_proj_out',
      new Linear(D, p * p * cfg.out_channels, { init: zeroInit }),
    );
    this.textProjOut = this.module('text_proj_out', new Linear(D, cfg.vocab_size));
    const nNull = cfg.null_image_tokens;
    this.nullImageEmbd =
      nNull > 0
        ? this.param('null_image_embd', {
            shape: [1, nNull, D],
            init: (seed, label) => normal([1, nNull, D], 1 / Math.sqrt(D), seed, label),
          })
        : null;
  }

  /** Cuts z [B,h,w,C] into patch vectors [B·N, p²C] laid out as (r·p+q)·C+ch, patches row-major. */
  patchify(z: tf.Tensor4D): tf.Tensor2D {
    const [B, h, w, C] = z.shape;
    const p = this.config.patch_size;
    const gh = h / p;
    const gw = w / p;
    const rows = tf.reshape(z, [B * gh, p, gw, p * C]);
    return tf.reshape(tf.transpose(rows, [0, 2, 1, 3]), [B * gh * gw, p * p * C]) as tf.Tensor2D;
  }

  /** Inverse of patchify for the head output: [B·N, p²C] → [B, gh·p, gw·p, C]. */
  unpatchify(t: tf.Tensor, B: number, gh: number, gw: number): tf.Tensor4D {
    const p = this.config.patch_size;
    const C = this.config.out_channels;
    const cells = tf.reshape(t, [B * gh, gw, p, p * C]);
    return tf.reshape(tf.transpose(cells, [0, 2, 1, 3]), [B, gh * p, gw * p, C]) as tf.Tensor4D;
  }

  /** Patch tokens plus the centre-cropped position table: [B, N, D]. */
  embedImage(z: tf.Tensor4D): tf.Tensor3D {
    const [B, h, w, C] = z.shape;
    const { patch_size: p, in_channels, width: D, pos_embed_max_size: G } = this.config;
    if (C !== in_channels)
      throw new Error(`D-DiT: latent has ${C} channels, the model expects ${in_channels}`);
    if (h % p !== 0 || w % p !== 0)
      throw new Error(`D-DiT: latent ${h}×${w} is not divisible by the patch size ${p}`);
    const gh = h / p;
    const gw = w / p;
    const kernel = tf.reshape(this.patchWeight.value, [p * p * C, D]);
    const tokens = tf.reshape(linear(this.patchify(z), kernel, this.patchBias.value), [B, gh * gw, D]);
    return tf.add(tokens, cropPosTable(this.posTable.value, G, gh, gw)) as tf.Tensor3D;
  }

  /** y = MLP(e(τ)) [B, D], plus the pooled-text vector when the config adds it back. */
  embedTime(tau: tf.Tensor1D, enc?: tf.Tensor3D): tf.Tensor2D {
    const y = this.timeEmbedder.forward(tau);
    if (!this.textEmbedder) return y;
    if (!enc) throw new Error('D-DiT: text_pooling needs the text embeddings for the conditioning vector');
    return tf.add(y, this.textEmbedder.forward(enc)) as tf.Tensor2D;
  }

  /** Both heads (the samplers' DualModel interface). */
  forward(z: tf.Tensor4D, tau: tf.Tensor1D | number | number[], enc: tf.Tensor3D): Required<DDiTOutputs>;
  /** Selected heads; z = null for a text-only call on the null image tokens. */
  forward(
    z: tf.Tensor4D | null,
    tau: tf.Tensor1D | number | number[],
    enc: tf.Tensor3D,
    opts: DDiTForwardOptions,
  ): DDiTOutputs;
  forward(
    z: tf.Tensor4D | null,
    tau: tf.Tensor1D | number | number[],
    enc: tf.Tensor3D,
    opts: DDiTForwardOptions = {},
  ): DDiTOutputs {
    const wantText = opts.text ?? true;
    const wantImage = (opts.image ?? true) && z !== null;
    const B = enc.shape[0];
    if (enc.rank !== 3 || enc.shape[2] !== this.config.joint_attention_dim) {
      throw new Error(
        `D-DiT: text embeddings must be [B, M, ${this.config.joint_attention_dim}], got [${enc.shape}]`,
      );
    }
    if (z && z.shape[0] !== B) throw new Error(`D-DiT: latent batch ${z.shape[0]} ≠ text batch ${B}`);
    return tf.tidy(() => {
      const tauT = this.tauTensor(tau, B);
      let x: tf.Tensor3D;
      let gh = 0;
      let gw = 0;
      if (z) {
        x = this.embedImage(z);
        gh = z.shape[1] / this.config.patch_size;
        gw = z.shape[2] / this.config.patch_size;
      } else {
        if (!this.nullImageEmbd)
          throw new Error('D-DiT: a text-only call needs null_image_tokens in the config');
        x = tf.tile(this.nullImageEmbd.value, [B, 1, 1]) as tf.Tensor3D;
      }
      const y = this.embedTime(tauT, enc);
      const sy = silu(y) as tf.Tensor2D;
      let c = this.contextEmbedder.forward(enc) as tf.Tensor3D;
      const last = this.blocks.length - 1;
      this.blocks.forEach((blk, i) => {
        // a scope per block frees what the backward pass does not keep as soon as the block is done
        [x, c] = tf.tidy(() => blk.forward(x, c, sy, i < last || wantImage, i < last || wantText));
      });
      const out: DDiTOutputs = {};
      if (wantImage) out.velocity = this.imageHead(x, sy, B, gh, gw);
      if (wantText) out.logits = this.textHead(c);
      return out as Record<string, tf.Tensor>;
    }) as DDiTOutputs;
  }

  /** Image head (spec §1.7): (scale, shift) = Lin(SiLU(y)), scale first; LN·(1+scale)+shift; Lin; unpatchify. */
  imageHead(x: tf.Tensor3D, sy: tf.Tensor2D, B: number, gh: number, gw: number): tf.Tensor4D {
    const [scale, shift] = chunkLast(this.imageNormOut.forward(sy) as tf.Tensor2D, 2);
    const h = adaLayerNorm(x, shift, scale);
    return this.unpatchify(this.imageProjOut.forward(h), B, gh, gw);
  }

  /** Text head: plain LN (no modulation), then Lin to V. */
  textHead(c: tf.Tensor3D): tf.Tensor3D {
    return this.textProjOut.forward(layerNorm(c)) as tf.Tensor3D;
  }

  private tauTensor(tau: tf.Tensor1D | number | number[], B: number): tf.Tensor1D {
    if (typeof tau === 'number') return tf.fill([B], tau) as tf.Tensor1D;
    if (Array.isArray(tau)) {
      if (tau.length !== B) throw new Error(`D-DiT: ${tau.length} timesteps for a batch of ${B}`);
      return tf.tensor1d(tau);
    }
    if (tau.size !== B) throw new Error(`D-DiT: ${tau.size} timesteps for a batch of ${B}`);
    return tf.reshape(tf.cast(tau, 'float32'), [B]) as tf.Tensor1D;
  }
}
