/**
 * Multi-head softmax attention without masks. On wasm/cpu it runs as one rank-2 matmul pair per
 * (batch, head): batched or transpose-flag matmuls take a slow scalar loop on tfjs-wasm
 * (notes/cpu-compute.md §1), and the per-head blocks are contiguous row ranges after a rank-4 transpose.
 * Backends with fast batched matmuls (tfjs-node, webgl, wasm with the native kernels) use one batched
 * product instead.
 */
import { tf } from '../tf';
import { nativeMatMulActive } from '../native-kernels';
import { matMul2d, matMulNT } from './ops';

export type AttentionMode = 'per-head' | 'batched' | 'auto';

export interface AttentionOptions {
  heads: number;
  /** Score scale; default 1/√(head dim). T5 uses 1. */
  scale?: number;
  /** Additive score bias [H, Lq, Lk] shared by the batch (T5 relative positions). */
  bias?: tf.Tensor3D;
  mode?: AttentionMode;
}

/**
 * Whether the batched product is the fast one here: on tfjs-node/webgl, and on wasm once the runtime has
 * routed BatchMatMul to the native BLAS kernels (server/runtime/native-kernels.ts).
 */
function batchedIsFast(): boolean {
  const b = tf.getBackend();
  if (b === 'cpu') return false;
  if (b === 'wasm') return nativeMatMulActive(tf);
  return true;
}

/** [B, L, H·dh] → [B·H·L, dh] (rows of one (batch, head) are contiguous). */
function toHeadRows(t: tf.Tensor, heads: number): tf.Tensor2D {
  const [B, L, D] = t.shape;
  const dh = D / heads;
  return tf.reshape(tf.transpose(tf.reshape(t, [B, L, heads, dh]), [0, 2, 1, 3]), [B * heads * L, dh]);
}

function fromHeadRows(t: tf.Tensor, B: number, heads: number, L: number): tf.Tensor3D {
  const dh = t.shape[t.shape.length - 1];
  return tf.reshape(tf.transpose(tf.reshape(t, [B, heads, L, dh]), [0, 2, 1, 3]), [B, L, heads * dh]);
}

/** softmax(q·kᵀ·scale + bias)·v over all heads. q [B,Lq,D], k/v [B,Lk,D] → [B,Lq,Dv]. */
export function attention(
  q: tf.Tensor3D,
  k: tf.Tensor3D,
  v: tf.Tensor3D,
  opts: AttentionOptions,
): tf.Tensor3D {
  const { heads } = opts;
  const [B, Lq, D] = q.shape;
  const Lk = k.shape[1];
  if (D % heads !== 0) throw new Error(`attention: width ${D} is not divisible by ${heads} heads`);
  if (k.shape[0] !== B || v.shape[0] !== B || v.shape[1] !== Lk || k.shape[2] !== D) {
    throw new Error(`attention: incompatible shapes q [${q.shape}], k [${k.shape}], v [${v.shape}]`);
  }
  const dh = D / heads;
  const scale = opts.scale ?? 1 / Math.sqrt(dh);
  const mode = opts.mode ?? 'auto';
  const qs = scale === 1 ? q : tf.mul(q, scale);
  const batched = mode === 'batched' || (mode === 'auto' && batchedIsFast());
  if (batched) {
    const q4 = tf.transpose(tf.reshape(qs, [B, Lq, heads, dh]), [0, 2, 1, 3]);
    const k4 = tf.transpose(tf.reshape(k, [B, Lk, heads, dh]), [0, 2, 1, 3]);
    const v4 = tf.transpose(tf.reshape(v, [B, Lk, heads, v.shape[2] / heads]), [0, 2, 1, 3]);
    let s = tf.matMul(q4, k4, false, true);
    if (opts.bias) s = tf.add(s, opts.bias);
    const o = tf.matMul(tf.softmax(s), v4);
    return tf.reshape(tf.transpose(o, [0, 2, 1, 3]), [B, Lq, v.shape[2]]);
  }
  const qh = toHeadRows(qs, heads);
  const kh = toHeadRows(k, heads);
  const vh = toHeadRows(v, heads);
  const dv = vh.shape[1];
  const biasRows = opts.bias ? tf.reshape(opts.bias, [heads * Lq, Lk]) : null;
  const outs: tf.Tensor2D[] = [];
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      const i = b * heads + h;
      const qi = tf.slice(qh, [i * Lq, 0], [Lq, dh]);
      const ki = tf.slice(kh, [i * Lk, 0], [Lk, dh]);
      const vi = tf.slice(vh, [i * Lk, 0], [Lk, dv]);
      let s: tf.Tensor2D = matMulNT(qi, ki);
      if (biasRows) s = tf.add(s, tf.slice(biasRows, [h * Lq, 0], [Lq, Lk]));
      outs.push(matMul2d(tf.softmax(s), vi));
    }
  }
  return fromHeadRows(outs.length === 1 ? outs[0] : tf.concat(outs, 0), B, heads, Lq);
}
