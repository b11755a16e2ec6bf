/**
 * Multi-head softmax attention without masks. With the native kernels on wasm it is one fused kernel each
 * way that reads the heads in place ('fused'). Without them it runs as one rank-2 matmul pair per
 * (batch, head): batched or transpose-flag matmuls take a slow scalar loop on tfjs-wasm
 * (notes/cpu-compute.md §1), and the per-head blocks are contiguous row ranges after a rank-4 transpose.
 * Backends with fast batched matmuls (tfjs-node, webgl) use one batched product instead.
 */
import { tf } from '../tf';
import {
  nativeAttention,
  nativeFusedActive,
  nativeJointAttention,
  nativeMatMulActive,
} from '../native-kernels';
import { matMulTA, matMulTB } from './ops';

export type AttentionMode = 'per-head' | 'batched' | 'fused' | 'auto';

export interface AttentionOptions {
  heads: number;
  /** Score scale; default 1/√(head dim). T5 uses 1. */
  scale?: number;
  /** Additive score bias [H, Lq, Lk] shared by the batch (T5 relative positions). */
  bias?: tf.Tensor3D;
  mode?: AttentionMode;
}

let defaultMode: AttentionMode = 'auto';

const NO_FUSED = 'attention: the fused path needs the native kernels on the wasm backend';

/** Sets the mode used when a call does not name one (benchmarks compare the two paths with it). */
export function setAttentionMode(mode: AttentionMode): void {
  defaultMode = mode;
}

/** The path an 'auto' call takes on the current backend. */
export function attentionPath(): Exclude<AttentionMode, 'auto'> {
  if (defaultMode !== 'auto') return defaultMode;
  if (nativeFusedActive(tf)) return 'fused';
  return batchedIsFast() ? 'batched' : 'per-head';
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
  const mode = opts.mode ?? defaultMode;
  if (mode === 'fused' || mode === 'auto') {
    const fused = nativeAttention(tf, q, k, v, heads, scale, opts.bias);
    if (fused) return fused as tf.Tensor3D;
    if (mode === 'fused') throw new Error(NO_FUSED);
  }
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
  const out = perHeadAttention(qh, kh, vh, B, heads, Lq, Lk, opts.bias);
  return fromHeadRows(out, B, heads, Lq);
}

/**
 * MM-DiT joint attention: one softmax attention over the image tokens followed by the text tokens, from each
 * stream's fused q|k|v projection (qkvX [B,N,3D], qkvC [B,M,3D]); returns each stream's rows of the output
 * ([B,N,D], [B,M,D]). With the native kernels it is one kernel each way; otherwise the projections are split,
 * concatenated along the tokens and passed to attention().
 */
export function jointAttention(
  qkvX: tf.Tensor3D,
  qkvC: tf.Tensor3D,
  opts: Omit<AttentionOptions, 'bias'>,
): [tf.Tensor3D, tf.Tensor3D] {
  const [B, N, D3] = qkvX.shape;
  const M = qkvC.shape[1];
  const D = D3 / 3;
  if (!Number.isInteger(D) || qkvC.shape[0] !== B || qkvC.shape[2] !== D3) {
    throw new Error(`jointAttention: incompatible projections [${qkvX.shape}] and [${qkvC.shape}]`);
  }
  if (D % opts.heads !== 0) throw new Error(`attention: width ${D} is not divisible by ${opts.heads} heads`);
  const scale = opts.scale ?? 1 / Math.sqrt(D / opts.heads);
  const mode = opts.mode ?? defaultMode;
  if (mode === 'fused' || mode === 'auto') {
    const fused = nativeJointAttention(tf, qkvX, qkvC, opts.heads, scale);
    if (fused) return fused as [tf.Tensor3D, tf.Tensor3D];
    if (mode === 'fused') throw new Error(NO_FUSED);
  }
  const px = tf.split(qkvX, 3, 2) as tf.Tensor3D[];
  const pc = tf.split(qkvC, 3, 2) as tf.Tensor3D[];
  const [q, k, v] = [0, 1, 2].map((i) => tf.concat([px[i], pc[i]], 1) as tf.Tensor3D);
  const o = attention(q, k, v, { heads: opts.heads, scale, mode });
  return [tf.slice(o, [0, 0, 0], [B, N, D]), tf.slice(o, [0, N, 0], [B, M, D])];
}

/**
 * Attention over head rows (qh [G·Lq, dh], kh [G·Lk, dh], vh [G·Lk, dv], G = B·H) as rank-2 products per
 * (batch, head), under one custom gradient. It saves q, k, v and the probabilities, and its backward writes
 * each head's gradient once (a concat); autodiff through the per-head slices would instead pad every head's
 * gradient to the full tensor and sum them, which grows with the square of the number of heads.
 */
function perHeadAttention(
  qh: tf.Tensor2D,
  kh: tf.Tensor2D,
  vh: tf.Tensor2D,
  B: number,
  H: number,
  Lq: number,
  Lk: number,
  bias?: tf.Tensor3D,
): tf.Tensor2D {
  const G = B * H;
  const rows = (t: tf.Tensor2D, g: number, L: number): tf.Tensor2D =>
    tf.slice(t, [g * L, 0], [L, t.shape[1]]);
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [q, k, vv, b] = args.slice(0, -1) as tf.Tensor2D[];
    const biasRows = b ?? null;
    const [value, probs] = tf.tidy(() => {
      const outs: tf.Tensor2D[] = [];
      const ps: tf.Tensor2D[] = [];
      for (let g = 0; g < G; g++) {
        let s = matMulTB(rows(q, g, Lq), rows(k, g, Lk));
        if (biasRows) s = tf.add(s, rows(biasRows, g % H, Lq));
        const p = tf.softmax(s);
        ps.push(p);
        outs.push(tf.matMul(p, rows(vv, g, Lk)));
      }
      return G === 1 ? [outs[0], ps[0]] : [tf.concat(outs, 0), tf.concat(ps, 0)];
    });
    save([q, k, vv, probs]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [sq, sk, sv, sp] = saved as tf.Tensor2D[];
          const dq: tf.Tensor2D[] = [];
          const dk: tf.Tensor2D[] = [];
          const dvs: tf.Tensor2D[] = [];
          const dBias: Array<tf.Tensor2D | null> = new Array(H).fill(null);
          for (let g = 0; g < G; g++) {
            const dO = rows(dy as tf.Tensor2D, g, Lq);
            const p = rows(sp, g, Lq);
            dvs.push(matMulTA(p, dO));
            const dP = matMulTB(dO, rows(sv, g, Lk));
            const dS = tf.mul(p, tf.sub(dP, tf.sum(tf.mul(dP, p), -1, true))) as tf.Tensor2D;
            dq.push(tf.matMul(dS, rows(sk, g, Lk)));
            dk.push(matMulTA(dS, rows(sq, g, Lq)));
            if (biasRows) {
              const h = g % H;
              dBias[h] = dBias[h] ? (tf.add(dBias[h]!, dS) as tf.Tensor2D) : dS;
            }
          }
          const cat = (xs: tf.Tensor2D[]): tf.Tensor2D => (xs.length === 1 ? xs[0] : tf.concat(xs, 0));
          const grads = [cat(dq), cat(dk), cat(dvs)];
          if (biasRows) grads.push(cat(dBias as tf.Tensor2D[]));
          return grads;
        }),
    };
  });
  const inputs: tf.Tensor[] = [qh, kh, vh];
  if (bias) inputs.push(tf.reshape(bias, [H * Lq, Lk]));
  return op(...inputs) as tf.Tensor2D;
}
