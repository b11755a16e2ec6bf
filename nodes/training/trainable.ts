/**
 * What training needs from the model classes (nodes/ddit DDiT, nodes/text encoders: runtime nn
 * Modules): named tf.Variables, a PyTorch-orientation state for checkpoints, and a synchronous
 * forward that autograd can follow.
 */
import { tf } from '../../server/runtime/tf';
import type { DualOutput, HeadOptions } from '../sampling/interfaces';

export interface ParameterLike {
  readonly value: tf.Variable;
  trainable: boolean;
}

export interface TrainableModule {
  namedParameters(): Array<[string, ParameterLike]>;
  state(): Map<string, tf.Tensor>;
  loadState(map: Map<string, tf.Tensor> | Record<string, tf.Tensor>, opts?: { strict?: boolean }): unknown;
  dispose(): void;
  readonly config?: unknown;
}

export interface TrainableDDiT extends TrainableModule {
  forward(z: tf.Tensor4D, tau: tf.Tensor1D | number, enc: tf.Tensor3D, opts?: HeadOptions): DualOutput;
  readonly config: { mask_token_id?: number; vocab_size?: number };
  /** The training step the weights were exported at, when the file recorded one. */
  readonly trainedSteps?: number;
}

export interface TrainableTextEncoder extends TrainableModule {
  encode(ids: tf.Tensor2D): tf.Tensor3D | Promise<tf.Tensor3D>;
}

function isModule(v: unknown): v is TrainableModule {
  const m = v as TrainableModule;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof m.namedParameters === 'function' &&
    typeof m.state === 'function' &&
    typeof m.loadState === 'function'
  );
}

export function asTrainableDDiT(v: unknown, who: string, input = 'model'): TrainableDDiT {
  if (!isModule(v) || typeof (v as TrainableDDiT).forward !== 'function') {
    throw new Error(`${who}: input '${input}' must be a trainable D-DiT (a tfjs model, not an ONNX session)`);
  }
  return v as TrainableDDiT;
}

export function asTrainableEncoder(v: unknown, who: string, input = 'text_encoder'): TrainableTextEncoder {
  if (!isModule(v) || typeof (v as TrainableTextEncoder).encode !== 'function') {
    throw new Error(`${who}: input '${input}' must be a tfjs text encoder to train its mask-token row`);
  }
  return v as TrainableTextEncoder;
}

/**
 * A copy with its own variables: a module class built from its config, with the same state. Training
 * works on such a copy so that the loader's cached model is never changed behind the cache's back.
 */
export function cloneModule<T extends TrainableModule>(m: T, who: string): T {
  const ctor = (m as object).constructor as new (config: unknown) => T;
  if (typeof ctor !== 'function' || m.config === undefined) {
    throw new Error(`${who}: cannot copy a model without a config`);
  }
  const copy = new ctor(m.config);
  const state = m.state();
  try {
    copy.loadState(state);
  } finally {
    for (const t of state.values()) t.dispose();
  }
  return copy;
}

/** The encoder call of a training step must be synchronous so that autograd sees it. */
export function encodeSync(
  encoder: { encode(ids: tf.Tensor2D): unknown },
  ids: tf.Tensor2D,
  who: string,
): tf.Tensor3D {
  const out = encoder.encode(ids);
  if (!(out instanceof tf.Tensor))
    throw new Error(`${who}: training needs a tfjs text encoder (synchronous encode)`);
  return out as tf.Tensor3D;
}

/** The embedding row names T5 uses for its input table (shared, or per stack). */
export function findEmbeddingParam(m: TrainableModule): [string, ParameterLike] | undefined {
  const params = m.namedParameters();
  return (
    params.find(([n]) => /(^|\.)embed_tokens\.weight$/.test(n)) ??
    params.find(([n]) => /(^|\.)shared\.weight$/.test(n)) ??
    params.find(([n]) => /embed/.test(n) && n.endsWith('weight'))
  );
}
