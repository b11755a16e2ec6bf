/**
 * Checks on socket values arriving at a node, so that a wrong connection fails with a message that
 * names the node and the input instead of a tensor error deep inside a model.
 */
import { tf } from '../../server/runtime/tf';
import type {
  Conditioning,
  DualModel,
  Guider,
  Latent,
  TextEncoderLike,
  TokenizerLike,
  VaeLike,
} from './interfaces';

function fail(who: string, input: string, what: string): never {
  throw new Error(`${who}: input '${input}' ${what}`);
}

function hasMethod(v: unknown, name: string): boolean {
  return typeof v === 'object' && v !== null && typeof (v as Record<string, unknown>)[name] === 'function';
}

export function asLatent(v: unknown, who: string, input = 'latent'): tf.Tensor4D {
  const s = (v as Latent | undefined)?.samples;
  if (!(s instanceof tf.Tensor) || s.rank !== 4) fail(who, input, 'must be a LATENT ({samples: [B,h,w,C]})');
  if (s.isDisposed) fail(who, input, 'holds a latent that was already freed');
  return s as tf.Tensor4D;
}

/** CONDITIONING: {embeds [B,M,d]} as TextEncode makes it, or a bare [B,M,d] tensor. */
export function asConditioning(v: unknown, who: string, input: string): Conditioning {
  if (v instanceof tf.Tensor) {
    if (v.rank !== 3) fail(who, input, `must be encoder states [B,M,d], got rank ${v.rank}`);
    return { embeds: v as tf.Tensor3D };
  }
  const c = v as Conditioning | undefined;
  if (!c || !(c.embeds instanceof tf.Tensor) || c.embeds.rank !== 3) {
    fail(who, input, 'must be a CONDITIONING (encoder states [B,M,d])');
  }
  return c;
}

// These only check values. Sampler nodes choose the runtime that serves a model (inferenceModel in
// nodes.ts: ONNX per the loader's choice); training needs the tfjs models themselves, unwrapped.
export function asModel(v: unknown, who: string, input = 'model'): DualModel {
  if (!hasMethod(v, 'forward')) fail(who, input, 'must be a DDIT_MODEL');
  return v as DualModel;
}

export function asTextEncoder(v: unknown, who: string, input = 'text_encoder'): TextEncoderLike {
  if (!hasMethod(v, 'encode')) fail(who, input, 'must be a TEXT_ENCODER');
  return v as TextEncoderLike;
}

export function asTokenizer(v: unknown, who: string, input = 'tokenizer'): TokenizerLike {
  const t = v as TokenizerLike | undefined;
  if (!hasMethod(v, 'encode') || !hasMethod(v, 'decode') || typeof t?.maskId !== 'number') {
    fail(who, input, 'must be a TOKENIZER (encode, decode, eosId, maskId)');
  }
  return t!;
}

export function asVae(v: unknown, who: string, input = 'vae'): VaeLike {
  if (!hasMethod(v, 'decode')) fail(who, input, 'must be a VAE');
  return v as VaeLike;
}

export function asGuider(v: unknown, who: string, input = 'guider'): Guider {
  if (!hasMethod(v, 'velocity')) fail(who, input, 'must be a GUIDER (from CFGGuider)');
  return v as Guider;
}

export function asImage(v: unknown, who: string, input = 'image'): tf.Tensor4D {
  if (!(v instanceof tf.Tensor) || v.rank !== 4 || v.shape[3] !== 3)
    fail(who, input, 'must be an IMAGE [B,H,W,3]');
  return v as tf.Tensor4D;
}
