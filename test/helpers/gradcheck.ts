/**
 * Finite-difference gradient checks for tfjs functions. The loss is Σ f(x)·R with a fixed random R, the
 * analytic gradient comes from tf.grads, and a sample of coordinates of each input is perturbed by ±eps
 * (central differences, evaluated in float32).
 */
import { initRuntime, tf } from '../../server/runtime';
import { Rng } from '../../server/runtime/nn/random';

export interface GradCheckOptions {
  eps?: number;
  /** Coordinates perturbed per input. */
  samples?: number;
  seed?: number;
}

export interface GradCheckResult {
  /** ‖analytic − numeric‖ / max(‖analytic‖, ‖numeric‖, tiny) over the sampled coordinates, per input. */
  relErrors: number[];
  maxAbsGrad: number;
}

export function gradCheck(
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  inputs: tf.Tensor[],
  opts: GradCheckOptions = {},
): GradCheckResult {
  const eps = opts.eps ?? 1e-2;
  const samples = opts.samples ?? 12;
  const rng = new Rng(opts.seed ?? 7, 'gradcheck');
  const outShape = tf.tidy(() => f(...inputs).shape);
  const R = tf.tensor(
    rng.fillUniform(new Float32Array(outShape.reduce((a, b) => a * b, 1)), -1, 1),
    outShape,
  );
  const loss = (...xs: tf.Tensor[]): tf.Scalar => tf.sum(tf.mul(f(...xs), R));
  const grads = tf.tidy(() =>
    tf
      .grads(loss)(inputs)
      .map((g) => g.dataSync().slice()),
  );
  const relErrors: number[] = [];
  let maxAbsGrad = 0;
  inputs.forEach((x, idx) => {
    const base = x.dataSync().slice();
    const a: number[] = [];
    const n: number[] = [];
    for (let s = 0; s < Math.min(samples, base.length); s++) {
      const j = rng.int(base.length);
      const evalAt = (delta: number): number => {
        const p = base.slice();
        p[j] += delta;
        return tf.tidy(() => {
          const xs = inputs.map((t, k) => (k === idx ? tf.tensor(p, x.shape, x.dtype) : t));
          return loss(...xs).dataSync()[0];
        });
      };
      n.push((evalAt(eps) - evalAt(-eps)) / (2 * eps));
      a.push(grads[idx][j]);
    }
    let diff = 0;
    let na = 0;
    let nn = 0;
    for (let i = 0; i < a.length; i++) {
      diff += (a[i] - n[i]) ** 2;
      na += a[i] ** 2;
      nn += n[i] ** 2;
      maxAbsGrad = Math.max(maxAbsGrad, Math.abs(a[i]));
    }
    relErrors.push(Math.sqrt(diff) / Math.max(Math.sqrt(na), Math.sqrt(nn), 1e-6));
  });
  R.dispose();
  return { relErrors, maxAbsGrad };
}

/** Random float32 tensor from a seeded stream. */
export function randn(shape: number[], seed: number, std = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(new Rng(seed, 'randn').fillNormal(new Float32Array(n), 0, std), shape);
}

export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

/** Backends the model tests run on: the pure-JS reference and wasm as the runtime sets it up. */
export const BACKENDS = ['cpu', 'wasm'] as const;

/**
 * Makes `name` the active backend. wasm goes through initRuntime(), so tests see the runtime's supplied kernels
 * (conv filter and gather gradients, fast slices, native matmuls when built); cpu stays registered beside it.
 */
export async function useBackend(name: (typeof BACKENDS)[number]): Promise<void> {
  await initRuntime({ backend: 'wasm' });
  if (!(await tf.setBackend(name))) throw new Error(`backend ${name} did not start`);
}

/**
 * Finite-difference check of the gradient with respect to a tf.Variable (a model parameter): analytic
 * from tf.variableGrads, numeric by perturbing the variable in place. Returns the relative error.
 */
export function variableGradCheck(f: () => tf.Tensor, v: tf.Variable, opts: GradCheckOptions = {}): number {
  const eps = opts.eps ?? 1e-2;
  const samples = opts.samples ?? 8;
  const rng = new Rng(opts.seed ?? 11, 'vgradcheck');
  const outShape = tf.tidy(() => f().shape);
  const R = tf.tensor(
    rng.fillUniform(new Float32Array(outShape.reduce((a, b) => a * b, 1)), -1, 1),
    outShape,
  );
  const loss = (): tf.Scalar => tf.sum(tf.mul(f(), R));
  const { value, grads } = tf.variableGrads(loss, [v]);
  value.dispose();
  const g = grads[v.name].dataSync().slice();
  tf.dispose(grads);
  const base = v.dataSync().slice();
  let diff = 0;
  let na = 0;
  let nn = 0;
  for (let s = 0; s < Math.min(samples, base.length); s++) {
    const j = rng.int(base.length);
    const at = (delta: number): number => {
      const p = base.slice();
      p[j] += delta;
      tf.tidy(() => v.assign(tf.tensor(p, v.shape)));
      return tf.tidy(() => loss().dataSync()[0]);
    };
    const num = (at(eps) - at(-eps)) / (2 * eps);
    diff += (g[j] - num) ** 2;
    na += g[j] ** 2;
    nn += num ** 2;
  }
  tf.tidy(() => v.assign(tf.tensor(base, v.shape)));
  R.dispose();
  return Math.sqrt(diff) / Math.max(Math.sqrt(na), Math.sqrt(nn), 1e-6);
}
