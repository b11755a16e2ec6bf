/**
 * Fits latent→RGB preview factors (ComfyUI's latent2rgb) for a trained VAE by least squares:
 * rgb ≈ z·F + b, with rgb the image average-pooled to the latent grid and mapped to [−1, 1], z the DiT-space
 * latent. The result goes into the VAE config as latent_rgb_factors / latent_rgb_bias.
 */
import { tf } from '../../server/runtime/tf';
import type { LatentRgb } from '../sampling/interfaces';
import type { VaeModel } from './model';

/** Solves the symmetric positive system A·x = b in place (Gaussian elimination with partial pivoting). */
function solve(A: number[][], b: number[][]): number[][] {
  const n = A.length;
  const m = b[0].length;
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(A[r][c]) > Math.abs(A[piv][c])) piv = r;
    [A[c], A[piv]] = [A[piv], A[c]];
    [b[c], b[piv]] = [b[piv], b[c]];
    const d = A[c][c];
    if (Math.abs(d) < 1e-20) throw new Error('fitLatentRgb: the latents are degenerate (singular system)');
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = A[r][c] / d;
      if (f === 0) continue;
      for (let k = c; k < n; k++) A[r][k] -= f * A[c][k];
      for (let k = 0; k < m; k++) b[r][k] -= f * b[c][k];
    }
  }
  return b.map((row, i) => row.map((v) => v / A[i][i]));
}

/**
 * latents [B,h,w,C] (DiT space) and the images they came from [B,H,W,3] in [0,1] (H = h·f) → factors C×3
 * and bias 3. `ridge` regularises the normal equations.
 */
export function fitLatentRgb(latents: tf.Tensor4D, images: tf.Tensor4D, ridge = 1e-6): LatentRgb {
  const [B, h, w, C] = latents.shape;
  const [Bi, H, W, ch] = images.shape;
  if (Bi !== B) throw new Error(`fitLatentRgb: ${B} latents but ${Bi} images`);
  if (ch !== 3) throw new Error(`fitLatentRgb: images must have 3 channels, got ${ch}`);
  if (H % h !== 0 || W % w !== 0 || H / h !== W / w) {
    throw new Error(`fitLatentRgb: image ${W}×${H} is not a whole multiple of the latent grid ${w}×${h}`);
  }
  const f = H / h;
  const target = tf.tidy(() => {
    const pooled = f === 1 ? images : tf.avgPool(images, f, f, 'valid');
    return tf.sub(tf.mul(pooled, 2), 1);
  });
  const z = latents.dataSync();
  const t = target.dataSync();
  target.dispose();
  const n = C + 1;
  const A = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  const Y = Array.from({ length: n }, () => [0, 0, 0]);
  const row = new Array<number>(n);
  for (let p = 0; p < B * h * w; p++) {
    for (let c = 0; c < C; c++) row[c] = z[p * C + c];
    row[C] = 1;
    for (let i = 0; i < n; i++) {
      const ri = row[i];
      for (let j = i; j < n; j++) A[i][j] += ri * row[j];
      for (let k = 0; k < 3; k++) Y[i][k] += ri * t[p * 3 + k];
    }
  }
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) A[i][j] = A[j][i];
    A[i][i] += ridge * (A[i][i] || 1);
  }
  const X = solve(A, Y);
  return { factors: X.slice(0, C).map((r) => r.slice()), bias: X[C].slice() };
}

/** Encodes the images with the VAE (posterior mean) and fits the factors. */
export async function fitLatentRgbForVae(vae: VaeModel, images: tf.Tensor4D): Promise<LatentRgb> {
  if (!vae.encode) throw new Error('fitLatentRgbForVae: this VAE has no encoder');
  const z = await vae.encode(images, { mode: 'mean' });
  try {
    return fitLatentRgb(z, images);
  } finally {
    z.dispose();
  }
}
