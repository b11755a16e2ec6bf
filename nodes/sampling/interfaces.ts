/**
 * What the samplers and losses need from the models, as small structural interfaces. The model pack's
 * classes (nodes/ddit, nodes/vae, nodes/text) satisfy them; the maths here depends on nothing else.
 * Tensors are NHWC: latents [B, h, w, C], images [B, H, W, 3] in [0, 1].
 */
import type * as tf from '@tensorflow/tfjs';

/** The heads of one D-DiT call (spec §1.2); a head that was not asked for is absent. */
export interface DualOutput {
  velocity?: tf.Tensor4D;
  logits?: tf.Tensor3D;
}

/** Which heads to compute; skipping one saves the last block's work for that stream. */
export interface HeadOptions {
  image?: boolean;
  text?: boolean;
}

/**
 * The D-DiT forward (nodes/ddit DDiT): z [B,h,w,C], τ [B] on the 0–1000 scale, encoder states
 * [B,M,dEnc] → velocity [B,h,w,C] and text logits [B,M,V]. Inference may be asynchronous (an ONNX
 * session); training needs the synchronous tfjs forward so that autograd can see it.
 */
export interface DualModel {
  forward(
    z: tf.Tensor4D,
    tau: tf.Tensor1D | number,
    enc: tf.Tensor3D,
    opts?: HeadOptions,
  ): DualOutput | Promise<DualOutput>;
}

/** A text encoder called on token ids [B,M] (int32), returning [B,M,dEnc]. No attention mask (spec §1.3). */
export interface TextEncoderLike {
  encode(ids: tf.Tensor2D): tf.Tensor3D | Promise<tf.Tensor3D>;
}

/** T5 conventions (spec §4): encode appends EOS; pad = EOS in training sequences. */
export interface TokenizerLike {
  encode(text: string): number[];
  decode(ids: number[]): string;
  readonly eosId: number;
  readonly padId: number;
  readonly maskId: number;
}

/** Encoded text for the image branch: the encoder states plus the ids that produced them. */
export interface Conditioning {
  embeds: tf.Tensor3D;
  ids?: number[][];
  /** The prompt text per row, when it was encoded from text (what SelfCheckSelect reads). */
  text?: string[];
}

/** LATENT socket value: samples already shifted and scaled for the DiT. */
export interface Latent {
  samples: tf.Tensor4D;
}

/** Latent → RGB preview factors (ComfyUI's latent2rgb): rgb = z·factors + bias, in [−1, 1]. */
export interface LatentRgb {
  factors: number[][];
  bias: number[];
}

export interface EncodeOptions {
  /** 'sample' draws from the posterior with a seeded ε (as captioning and training do); 'mean' takes its mean. */
  mode?: 'sample' | 'mean';
  seed?: number;
}

/** What the samplers need from a VAE: decoding (final images, exact previews), encoding, preview factors. */
export interface VaeLike {
  /** DiT-space latent [B,h,w,C] → image [B,H,W,3] in [0, 1]. */
  decode(latent: tf.Tensor4D): tf.Tensor4D | Promise<tf.Tensor4D>;
  /** Image [B,H,W,3] in [0, 1] → DiT-space latent (shifted and scaled). */
  encode?(image: tf.Tensor4D, opts?: EncodeOptions): tf.Tensor4D | Promise<tf.Tensor4D>;
  readonly latentRgb?: LatentRgb;
}

/** A velocity predictor at one noise level, with guidance already applied (the GUIDER socket). */
export interface Guider {
  /** v(z, σ) for z [B,h,w,C]; the caller owns (and disposes) the result. */
  velocity(z: tf.Tensor4D, sigma: number): Promise<tf.Tensor4D>;
}
