/** Fixed (non-learned) embeddings: sinusoidal timestep features and the 2-D sin-cos position table. */
import { tf } from '../tf';

/**
 * Sinusoidal timestep features (spec §1.5): f_k = exp(−ln(10⁴)·k/half) for k < half = dim/2, and
 * e(τ) = [cos(τ·f), sin(τ·f)] with the cos half first. tau [B] → [B, dim].
 */
export function timestepEmbedding(tau: tf.Tensor, dim = 256, maxPeriod = 10000): tf.Tensor2D {
  if (dim % 2 !== 0) throw new Error(`timestepEmbedding: dim must be even, got ${dim}`);
  const half = dim / 2;
  const freqs = new Float32Array(half);
  for (let k = 0; k < half; k++) freqs[k] = Math.exp((-Math.log(maxPeriod) * k) / half);
  return tf.tidy(() => {
    const args = tf.mul(tf.reshape(tf.cast(tau, 'float32'), [-1, 1]), tf.tensor2d(freqs, [1, half]));
    return tf.concat([tf.cos(args), tf.sin(args)], 1) as tf.Tensor2D;
  });
}

/**
 * The 2-D sin-cos position table of spec §1.4 as a G×G×D Float32Array (row-major over cells, D innermost).
 * Cell k on either axis has coordinate k·baseSize/G (baseSize = S/p). The first D/2 channels encode the
 * column coordinate, the last D/2 the row; each half is [sin(x·ω), cos(x·ω)] with ω_k = 10000^(−k/(D/4)).
 */
export function sincosPosTable(dim: number, gridSize: number, baseSize: number): Float32Array {
  if (dim % 4 !== 0) throw new Error(`sincosPosTable: width ${dim} must be divisible by 4`);
  const q = dim / 4;
  const omega = new Float64Array(q);
  for (let k = 0; k < q; k++) omega[k] = 1 / Math.pow(10000, k / q);
  const G = gridSize;
  const out = new Float32Array(G * G * dim);
  for (let r = 0; r < G; r++) {
    const y = (r * baseSize) / G;
    for (let c = 0; c < G; c++) {
      const x = (c * baseSize) / G;
      const o = (r * G + c) * dim;
      for (let k = 0; k < q; k++) {
        out[o + k] = Math.sin(x * omega[k]);
        out[o + q + k] = Math.cos(x * omega[k]);
        out[o + 2 * q + k] = Math.sin(y * omega[k]);
        out[o + 3 * q + k] = Math.cos(y * omega[k]);
      }
    }
  }
  return out;
}

/**
 * Centre crop of a G×G position table (given as [G·G, D] or [1, G·G, D]) for a gh×gw patch grid, flattened
 * row-major to [gh·gw, D]: rows ⌊(G−gh)/2⌋…, columns ⌊(G−gw)/2⌋….
 */
export function cropPosTable(table: tf.Tensor, gridSize: number, gh: number, gw: number): tf.Tensor2D {
  const G = gridSize;
  if (gh > G || gw > G) {
    throw new Error(
      `image patch grid ${gh}×${gw} exceeds the position table (${G}×${G}); use a smaller image`,
    );
  }
  const D = table.shape[table.shape.length - 1];
  const top = Math.floor((G - gh) / 2);
  const left = Math.floor((G - gw) / 2);
  return tf.tidy(() => {
    const grid = tf.reshape(table, [G, G, D]);
    const crop = gh === G && gw === G ? grid : tf.slice(grid, [top, left, 0], [gh, gw, D]);
    return tf.reshape(crop, [gh * gw, D]) as tf.Tensor2D;
  });
}
