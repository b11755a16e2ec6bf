/**
 * Seeded initialisers. Each returns a fresh tensor; the stream is chosen by (seed, label), where the label
 * is normally the parameter's full name, so initial values do not depend on construction order.
 */
import { tf } from '../tf';
import { Rng } from './random';

export interface InitContext {
  seed: number;
  /** Prefix of the parameter names being created (the module path). */
  prefix?: string;
}

function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function zeros(shape: number[]): tf.Tensor {
  return tf.zeros(shape);
}

export function ones(shape: number[]): tf.Tensor {
  return tf.ones(shape);
}

export function normal(shape: number[], std: number, seed: number, label: string): tf.Tensor {
  const data = new Rng(seed, label).fillNormal(new Float32Array(size(shape)), 0, std);
  return tf.tensor(data, shape, 'float32');
}

export function uniform(shape: number[], lo: number, hi: number, seed: number, label: string): tf.Tensor {
  const data = new Rng(seed, label).fillUniform(new Float32Array(size(shape)), lo, hi);
  return tf.tensor(data, shape, 'float32');
}

/** Xavier/Glorot uniform: U(±√(6/(fanIn+fanOut))). */
export function xavierUniform(
  shape: number[],
  fanIn: number,
  fanOut: number,
  seed: number,
  label: string,
): tf.Tensor {
  const bound = Math.sqrt(6 / (fanIn + fanOut));
  return uniform(shape, -bound, bound, seed, label);
}

/** PyTorch's default for Linear/Conv weights and biases: U(±1/√fanIn). */
export function torchDefault(shape: number[], fanIn: number, seed: number, label: string): tf.Tensor {
  const bound = 1 / Math.sqrt(Math.max(1, fanIn));
  return uniform(shape, -bound, bound, seed, label);
}

/** Ways a layer can ask for its weight to be initialised. */
export type WeightInit =
  | 'xavier'
  | 'torch'
  | 'zeros'
  | { normal: number }
  | ((shape: number[], fanIn: number, fanOut: number) => tf.Tensor);

export function initWeight(
  how: WeightInit,
  shape: number[],
  fanIn: number,
  fanOut: number,
  seed: number,
  label: string,
): tf.Tensor {
  if (typeof how === 'function') return how(shape, fanIn, fanOut);
  if (how === 'xavier') return xavierUniform(shape, fanIn, fanOut, seed, label);
  if (how === 'torch') return torchDefault(shape, fanIn, seed, label);
  if (how === 'zeros') return zeros(shape);
  return normal(shape, how.normal, seed, label);
}
