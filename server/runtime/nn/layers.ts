/** Layers with parameters, named as in diffusers / Hugging Face (`weight`, `bias`). */
import { tf } from '../tf';
import { initWeight, normal, torchDefault, type WeightInit } from './init';
import { Module, type Parameter } from './module';
import { groupNorm, linear, rmsNorm } from './ops';

export interface LinearOptions {
  bias?: boolean;
  /** Weight initialiser (default Xavier uniform). */
  init?: WeightInit;
  /** Bias initialiser (default zeros; 'torch' = U(±1/√in)). */
  biasInit?: 'zeros' | 'torch';
}

/** Dense layer; weight stored [in, out] (PyTorch (out, in) on save/load). */
export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: LinearOptions = {},
  ) {
    super();
    const how = opts.init ?? 'xavier';
    this.weight = this.param('weight', {
      shape: [inFeatures, outFeatures],
      layout: 'linear',
      init: (seed, label) => initWeight(how, [inFeatures, outFeatures], inFeatures, outFeatures, seed, label),
    });
    const biasInit = opts.biasInit ?? 'zeros';
    this.bias =
      opts.bias === false
        ? null
        : this.param('bias', {
            shape: [outFeatures],
            init: (seed, label) =>
              biasInit === 'torch'
                ? torchDefault([outFeatures], inFeatures, seed, label)
                : tf.zeros([outFeatures]),
          });
  }

  forward(x: tf.Tensor): tf.Tensor {
    return linear(x, this.weight.value, this.bias?.value);
  }
}

/**
 * Several dense layers on the same input as one product, x·[W₁ | W₂ | …] + [b₁ | b₂ | …] (e.g. q, k and v),
 * while each layer keeps its own parameters and checkpoint names.
 */
export function concatLinear(x: tf.Tensor, layers: Linear[]): tf.Tensor {
  const w = tf.concat(
    layers.map((l) => l.weight.value),
    1,
  );
  const b = layers.every((l) => l.bias) ? tf.concat(layers.map((l) => l.bias!.value)) : undefined;
  return linear(x, w, b);
}

export interface Conv2dOptions {
  stride?: number;
  /** Symmetric zero padding on each side (PyTorch `padding`); default ⌊k/2⌋. */
  padding?: number;
  bias?: boolean;
  init?: WeightInit;
}

/**
 * 2-D convolution on NHWC input, kernel stored HWIO [kh, kw, in, out] (PyTorch (out, in, kh, kw) on
 * save/load). Padding follows PyTorch's integer `padding` (zeros on every side).
 */
export class Conv2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  readonly stride: number;
  readonly padding: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    opts: Conv2dOptions = {},
  ) {
    super();
    this.stride = opts.stride ?? 1;
    this.padding = opts.padding ?? Math.floor(kernelSize / 2);
    const k = kernelSize;
    const fanIn = inChannels * k * k;
    const fanOut = outChannels * k * k;
    const how = opts.init ?? 'torch';
    this.weight = this.param('weight', {
      shape: [k, k, inChannels, outChannels],
      layout: 'conv2d',
      init: (seed, label) => initWeight(how, [k, k, inChannels, outChannels], fanIn, fanOut, seed, label),
    });
    this.bias =
      opts.bias === false
        ? null
        : this.param('bias', {
            shape: [outChannels],
            init: (seed, label) =>
              how === 'torch' ? torchDefault([outChannels], fanIn, seed, label) : tf.zeros([outChannels]),
          });
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return conv2d(x, this.weight.value as tf.Tensor4D, this.bias?.value, this.stride, this.padding);
  }
}

/**
 * NHWC convolution with PyTorch-style symmetric integer padding. Same-size cases use tfjs 'same' (identical
 * for odd kernels at stride 1); anything else pads explicitly and runs 'valid'.
 */
export function conv2d(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  b: tf.Tensor | undefined,
  stride = 1,
  padding = 0,
): tf.Tensor4D {
  const k = w.shape[0];
  let y: tf.Tensor4D;
  if (padding === 0) y = tf.conv2d(x, w, stride, 'valid');
  else if (stride === 1 && k % 2 === 1 && padding === (k - 1) / 2) y = tf.conv2d(x, w, 1, 'same');
  else {
    const xp = tf.pad(x, [
      [0, 0],
      [padding, padding],
      [padding, padding],
      [0, 0],
    ]);
    y = tf.conv2d(xp, w, stride, 'valid');
  }
  return b ? tf.add(y, b) : y;
}

/** Lookup table [num, dim]; `forward(ids)` gathers rows. */
export class Embedding extends Module {
  readonly weight: Parameter;

  constructor(
    readonly num: number,
    readonly dim: number,
    opts: { std?: number } = {},
  ) {
    super();
    const std = opts.std ?? 1;
    this.weight = this.param('weight', {
      shape: [num, dim],
      init: (seed, label) => normal([num, dim], std, seed, label),
    });
  }

  forward(ids: tf.Tensor): tf.Tensor {
    return tf.gather(this.weight.value, tf.cast(ids, 'int32'));
  }
}

/** GroupNorm on NHWC with per-channel affine (`weight`, `bias`). */
export class GroupNorm extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;

  constructor(
    readonly groups: number,
    readonly channels: number,
    readonly eps = 1e-6,
  ) {
    super();
    if (channels % groups !== 0)
      throw new Error(`GroupNorm: ${channels} channels do not split into ${groups} groups`);
    this.weight = this.param('weight', { shape: [channels], init: () => tf.ones([channels]) });
    this.bias = this.param('bias', { shape: [channels], init: () => tf.zeros([channels]) });
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return groupNorm(x, this.groups, this.weight.value, this.bias.value, this.eps);
  }
}

/** T5's layer norm: RMS scaling with a learned `weight`, no bias. */
export class RMSNorm extends Module {
  readonly weight: Parameter;

  constructor(
    readonly dim: number,
    readonly eps = 1e-6,
  ) {
    super();
    this.weight = this.param('weight', { shape: [dim], init: () => tf.ones([dim]) });
  }

  forward(x: tf.Tensor): tf.Tensor {
    return rmsNorm(x, this.weight.value, this.eps);
  }
}
