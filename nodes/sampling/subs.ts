/**
 * SUBS parameterisation of the text head (spec §2.3): the mask token gets no probability, and every
 * position that is not masked is pinned to its own token.
 */
import { tf } from '../../server/runtime/tf';

/** Added to the mask-token logit, and used as "log 0" for pinned rows, as the reference does. */
export const SUBS_NEG = 1e6;

/**
 * log-probabilities [B,M,V] from logits [B,M,V] and the current text state x_t [B,M]:
 * 1. mask logit − 1e6; 2. log-softmax over V; 3. rows where x_t ≠ MASK become 0 at x_t, −1e6 elsewhere.
 */
export function subsLogProbs(logits: tf.Tensor3D, xt: tf.Tensor2D, maskId: number): tf.Tensor3D {
  const vocab = logits.shape[2];
  if (maskId < 0 || maskId >= vocab)
    throw new Error(`subsLogProbs: mask id ${maskId} outside the vocabulary of ${vocab}`);
  return tf.tidy(() => {
    const maskCol = tf.oneHot(tf.tensor1d([maskId], 'int32'), vocab).reshape([1, 1, vocab]);
    const logp = tf.logSoftmax(tf.sub(logits, tf.mul(maskCol, SUBS_NEG)), -1);
    const xtInt = xt.dtype === 'int32' ? xt : tf.cast(xt, 'int32');
    const unmasked = tf.cast(tf.notEqual(xtInt, maskId), 'float32').expandDims(-1);
    const pinned = tf.mul(tf.sub(tf.oneHot(xtInt, vocab).toFloat(), 1), SUBS_NEG);
    return tf.add(tf.mul(unmasked, pinned), tf.mul(tf.sub(1, unmasked), logp)) as tf.Tensor3D;
  });
}

/**
 * The same rule on plain arrays, as probabilities (for the sampler): logits [B·M·V] row-major and the
 * state x [B·M]. Masked rows get the softmax over real tokens; other rows a one-hot on their token.
 */
export function subsProbabilities(
  logits: Float32Array,
  x: Int32Array,
  vocab: number,
  maskId: number,
): Float32Array {
  const rows = x.length;
  if (logits.length !== rows * vocab) {
    throw new Error(
      `subsProbabilities: ${logits.length} logits do not fit ${rows} positions × ${vocab} tokens`,
    );
  }
  const p = new Float32Array(rows * vocab);
  for (let r = 0; r < rows; r++) {
    const off = r * vocab;
    if (x[r] !== maskId) {
      p[off + x[r]] = 1;
      continue;
    }
    let max = -Infinity;
    for (let v = 0; v < vocab; v++) if (v !== maskId && logits[off + v] > max) max = logits[off + v];
    let sum = 0;
    for (let v = 0; v < vocab; v++) {
      if (v === maskId) continue;
      const e = Math.exp(logits[off + v] - max);
      p[off + v] = e;
      sum += e;
    }
    for (let v = 0; v < vocab; v++) p[off + v] /= sum;
  }
  return p;
}
