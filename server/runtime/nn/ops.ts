/**
 * Tensor functions written on the fast paths measured for tfjs-wasm (notes/cpu-compute.md §1): 2-D matmuls
 * whose gradients use explicit transposes (the transpose-flag BatchMatMul is a slow loop there), GELU via
 * sigmoid (tanh and pow run scalar), LayerNorm from moments + rsqrt, rank ≤ 4 transposes only.
 */
import { tf } from '../tf';
import {
  nativeAdaLayerNorm,
  nativeGatedAdd,
  nativeGeluTanh,
  nativeLinear,
  nativeLayerNorm,
  nativeMatMulActive,
} from '../native-kernels';

/**
 * a·bᵀ (matMulTB) and aᵀ·b (matMulTA): transpose flags where the native BLAS kernels run them (no copies),
 * explicit transposes plus a flag-free product on the plain wasm kernels (whose flag path is a slow loop).
 */
export function matMulTB(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return nativeMatMulActive(tf) ? tf.matMul(a, b, false, true) : tf.matMul(a, tf.transpose(b));
}
export function matMulTA(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return nativeMatMulActive(tf) ? tf.matMul(a, b, true, false) : tf.matMul(tf.transpose(a), b);
}

/** a [m,k] · b [k,n] with a gradient made of plain (flag-free) 2-D matmuls. */
export const matMul2d = tf.customGrad(
  (a: tf.Tensor | tf.GradSaveFunc, b: tf.Tensor | tf.GradSaveFunc, save) => {
    const A = a as tf.Tensor2D;
    const B = b as tf.Tensor2D;
    (save as tf.GradSaveFunc)([A, B]);
    return {
      value: tf.matMul(A, B),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sa, sb] = saved as tf.Tensor2D[];
        return [matMulTB(dy as tf.Tensor2D, sb), matMulTA(sa, dy as tf.Tensor2D)];
      },
    };
  },
) as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;

/** a [m,k] · bᵀ where b is [n,k] (attention scores); gradients again flag-free. */
export const matMulNT = tf.customGrad(
  (a: tf.Tensor | tf.GradSaveFunc, b: tf.Tensor | tf.GradSaveFunc, save) => {
    const A = a as tf.Tensor2D;
    const B = b as tf.Tensor2D;
    (save as tf.GradSaveFunc)([A, B]);
    return {
      value: matMulTB(A, B),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sa, sb] = saved as tf.Tensor2D[];
        const d = dy as tf.Tensor2D;
        return [tf.matMul(d, sb), matMulTA(d, sa)];
      },
    };
  },
) as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;

/** x [m,in] · w [in,out] + b [out], one custom-gradient op (bias gradient = column sums). */
const affine2d = tf.customGrad(
  (x: tf.Tensor | tf.GradSaveFunc, w: tf.Tensor | tf.GradSaveFunc, b: tf.Tensor | tf.GradSaveFunc, save) => {
    const X = x as tf.Tensor2D;
    const W = w as tf.Tensor2D;
    (save as tf.GradSaveFunc)([X, W]);
    return {
      // With the native kernels the bias rides in the GEMM (rows start as b); otherwise a separate Add.
      value: nativeMatMulActive(tf)
        ? (tf.fused.matMul({ a: X, b: W, bias: b as tf.Tensor1D }) as tf.Tensor2D)
        : tf.add(tf.matMul(X, W), b as tf.Tensor1D),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sw] = saved as tf.Tensor2D[];
        const d = dy as tf.Tensor2D;
        return [matMulTB(d, sw), matMulTA(sx, d), tf.sum(d, 0)];
      },
    };
  },
) as (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D;

/** Dense layer over the last axis of x (any rank ≥ 2 or 1): x·w (+ b). w is [in, out] (tfjs orientation). */
export function linear(x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor): tf.Tensor {
  const [inF, outF] = (w as tf.Tensor2D).shape;
  const lead = x.shape.slice(0, -1);
  if (x.shape[x.shape.length - 1] !== inF) {
    throw new Error(`linear: input has ${x.shape[x.shape.length - 1]} features, weight expects ${inF}`);
  }
  const fused = nativeLinear(tf, x, w, b);
  if (fused) return fused;
  const x2 = (x.rank === 2 ? x : tf.reshape(x, [-1, inF])) as tf.Tensor2D;
  const y = b ? affine2d(x2, w as tf.Tensor2D, b as tf.Tensor1D) : matMul2d(x2, w as tf.Tensor2D);
  return x.rank === 2 ? y : tf.reshape(y, [...lead, outF]);
}

/** SiLU(x) = x·σ(x). */
export function silu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(x));
}

/** √(8/π): GELU-tanh written as x·σ(2u) with u = √(2/π)(x + 0.044715x³). */
const GELU_K = 2 * Math.sqrt(2 / Math.PI);

/** GELU-tanh without the native kernels: a custom gradient keeps only x for the backward pass. */
const geluTanhOp = tf.customGrad((xIn: tf.Tensor | tf.GradSaveFunc, save) => {
  const x = xIn as tf.Tensor;
  (save as tf.GradSaveFunc)([x]);
  const value = tf.tidy(() =>
    tf.mul(x, tf.sigmoid(tf.mul(tf.add(x, tf.mul(tf.mul(tf.mul(x, x), x), 0.044715)), GELU_K))),
  );
  return {
    value,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
      tf.tidy(() => {
        const [sx] = saved;
        const x2 = tf.mul(sx, sx);
        const s = tf.sigmoid(tf.mul(tf.add(sx, tf.mul(tf.mul(x2, sx), 0.044715)), GELU_K));
        // d/dx x·σ(u) = σ(u) + x·σ(u)(1−σ(u))·u′, u′ = K(1 + 3·0.044715x²)
        const du = tf.mul(tf.add(tf.mul(x2, 3 * 0.044715), 1), GELU_K);
        return tf.mul(dy, tf.add(s, tf.mul(tf.mul(tf.mul(sx, s), tf.sub(1, s)), du)));
      }),
  };
}) as (x: tf.Tensor) => tf.Tensor;

/**
 * GELU with the tanh approximation, in the identical form x·sigmoid(1.5958(x+0.044715x³)): the native fused
 * kernel when loaded, else geluTanhOp (autodiff would keep every intermediate of the polynomial).
 */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  const fused = nativeGeluTanh(tf, x);
  if (fused) return fused;
  return geluTanhOp(x);
}

const layerNormOp = tf.customGrad(
  (xIn: tf.Tensor | tf.GradSaveFunc, epsIn: tf.Tensor | tf.GradSaveFunc, save) => {
    const x = xIn as tf.Tensor;
    const [y, r] = tf.tidy(() => {
      const { mean, variance } = tf.moments(x, -1, true);
      const rstd = tf.rsqrt(tf.add(variance, epsIn as tf.Tensor));
      return [tf.mul(tf.sub(x, mean), rstd), rstd];
    });
    (save as tf.GradSaveFunc)([y, r]);
    return {
      value: y,
      // dx = r·(dy − mean(dy) − y·mean(dy·y)) over the normalised axis; ε gets no gradient
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sy, sr] = saved;
        const dx = tf.tidy(() =>
          tf.mul(
            sr,
            tf.sub(tf.sub(dy, tf.mean(dy, -1, true)), tf.mul(sy, tf.mean(tf.mul(dy, sy), -1, true))),
          ),
        );
        return [dx, tf.zerosLike(epsIn as tf.Tensor)];
      },
    };
  },
) as (x: tf.Tensor, eps: tf.Tensor) => tf.Tensor;

/**
 * LayerNorm over the last axis, no affine (the D-DiT default ε = 1e-6): the native fused kernel when loaded,
 * else moments + rsqrt under a custom gradient that keeps only the output and 1/σ for the backward pass.
 */
export function layerNorm(x: tf.Tensor, eps = 1e-6): tf.Tensor {
  const fused = nativeLayerNorm(tf, x, eps);
  if (fused) return fused;
  return tf.tidy(() => layerNormOp(x, tf.scalar(eps)));
}

/** T5's RMS norm: x·rsqrt(mean(x²)+ε)·w (no mean subtraction, no bias). */
export function rmsNorm(x: tf.Tensor, w: tf.Tensor, eps = 1e-6): tf.Tensor {
  const ms = tf.mean(tf.mul(x, x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, eps))), w);
}

/**
 * GroupNorm on NHWC input: statistics over (H, W, C/G) per sample and group, then a per-channel affine.
 * Written with a rank-4 reshape only.
 */
export function groupNorm(
  x: tf.Tensor4D,
  groups: number,
  gamma?: tf.Tensor,
  beta?: tf.Tensor,
  eps = 1e-6,
): tf.Tensor4D {
  const [B, H, W, C] = x.shape;
  if (C % groups !== 0) throw new Error(`groupNorm: ${C} channels do not split into ${groups} groups`);
  const g = tf.reshape(x, [B, H * W, groups, C / groups]);
  const { mean, variance } = tf.moments(g, [1, 3], true);
  let y = tf.reshape(tf.mul(tf.sub(g, mean), tf.rsqrt(tf.add(variance, eps))), [B, H, W, C]);
  if (gamma) y = tf.mul(y, gamma);
  if (beta) y = tf.add(y, beta);
  return y as tf.Tensor4D;
}

/** AdaLN modulation of token features x [B,L,D] by per-sample shift/scale [B,D]: x·(1+scale)+shift. */
export function modulate(x: tf.Tensor, shift: tf.Tensor, scale: tf.Tensor): tf.Tensor {
  return tf.add(tf.mul(x, tf.add(tf.expandDims(scale, 1), 1)), tf.expandDims(shift, 1));
}

/** modulate(layerNorm(x), shift, scale) for x [B,L,D]; a single fused op where the native kernels run. */
export function adaLayerNorm<T extends tf.Tensor>(x: T, shift: tf.Tensor, scale: tf.Tensor, eps = 1e-6): T {
  return (nativeAdaLayerNorm(tf, x, shift, scale, eps) ?? modulate(layerNorm(x, eps), shift, scale)) as T;
}

/** Gated residual x + gate·y for x, y [B,L,D] and a per-sample gate [B,D] (broadcast over tokens). */
export function gatedAdd<T extends tf.Tensor>(x: T, gate: tf.Tensor, y: tf.Tensor): T {
  return (nativeGatedAdd(tf, x, gate, y) ?? tf.add(x, tf.mul(tf.expandDims(gate, 1), y))) as T;
}

/** Splits the last axis of a [B, k·D] tensor into k equal [B, D] chunks. */
export function chunkLast(x: tf.Tensor2D, k: number): tf.Tensor2D[] {
  return tf.split(x, k, 1) as tf.Tensor2D[];
}

/**
 * Nearest-neighbour ×2 upsampling (NHWC) from concats and rank-4 reshapes only, so its gradient (slices)
 * exists on every backend.
 */
export function upsampleNearest2x(x: tf.Tensor4D): tf.Tensor4D {
  const [B, H, W, C] = x.shape;
  const cols = tf.reshape(tf.concat([x, x], 3), [B * H, 1, 2 * W, C]);
  return tf.reshape(tf.concat([cols, cols], 1), [B, 2 * H, 2 * W, C]) as tf.Tensor4D;
}
