/**
 * Bridges token states and the models for the masked sampler: p = SUBS(f(z₀, τ = 0, Enc(x))).
 */
import { tf } from '../../server/runtime/tf';
import type { DualModel, TextEncoderLike } from './interfaces';
import { subsProbabilities } from './subs';

/**
 * SUBS probabilities [B·M·V] for the state x [B·M], given the clean image latent z₀ [B or 1, h, w, C].
 * The image head is skipped: the text branch only needs the logits.
 */
export async function textProbabilities(
  model: DualModel,
  encoder: TextEncoderLike,
  z0: tf.Tensor4D,
  x: Int32Array,
  batch: number,
  length: number,
  maskId: number,
): Promise<Float32Array> {
  const ids = tf.tensor2d(x, [batch, length], 'int32');
  let enc: tf.Tensor3D | undefined;
  let z: tf.Tensor4D | undefined;
  try {
    enc = await encoder.encode(ids);
    z = z0.shape[0] === batch ? z0 : (tf.tile(z0, [batch, 1, 1, 1]) as tf.Tensor4D);
    const out = await model.forward(z, 0, enc, { image: false });
    out.velocity?.dispose();
    if (!out.logits) throw new Error('the model returned no text logits');
    const logits = (await out.logits.data()) as Float32Array;
    const vocab = out.logits.shape[2];
    out.logits.dispose();
    return subsProbabilities(logits, x, vocab, maskId);
  } finally {
    ids.dispose();
    enc?.dispose();
    if (z && z !== z0) z.dispose();
  }
}
