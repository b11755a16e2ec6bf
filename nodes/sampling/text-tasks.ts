/**
 * What the Caption and AnswerQuestion nodes do besides sampling, shared with the evaluation so that both
 * run the same steps: the templates they build from their inputs, and the image latent the text is
 * conditioned on (a seeded VAE posterior sample).
 */
import { tf } from '../../server/runtime/tf';
import { inferenceModel } from '../ddit/inference';
import type { TokenizerLike } from './interfaces';
import { captionTemplate, vqaPromptText, vqaTemplate, type TextTemplate } from './templates';
import { asImage, asVae } from './values';

/** Caption's template: all masked, or in-filled after a fixed prompt (trailing EOS dropped). */
export function captionTemplateFor(
  prompt: string,
  length: number,
  tok: TokenizerLike,
  who = 'Caption',
): TextTemplate {
  return prompt.trim() ? vqaTemplate(prompt, length, tok, who) : captionTemplate(length, tok);
}

/** AnswerQuestion's template: prompt_format with {question} (and the VizWiz hint), then the answer slot. */
export function questionTemplate(
  question: string,
  promptFormat: string,
  vizwiz: boolean,
  length: number,
  tok: TokenizerLike,
  who = 'AnswerQuestion',
): TextTemplate {
  if (!promptFormat.includes('{question}')) {
    throw new Error(`${who}: input 'prompt_format' must contain {question}`);
  }
  return vqaTemplate(vqaPromptText(question, promptFormat, vizwiz), length, tok, who);
}

/** The clean latent a caption or answer is sampled for: a posterior sample, not the mean (spec §3.2). */
export async function encodeForText(
  who: string,
  vae: unknown,
  image: unknown,
  seed: number,
): Promise<tf.Tensor4D> {
  const v = asVae(inferenceModel(vae), who);
  if (typeof v.encode !== 'function') throw new Error(`${who}: input 'vae' cannot encode images`);
  return v.encode(asImage(image, who), { mode: 'sample', seed });
}

/** encodeForText of each row of images [N,H,W,3] with its own seed, as [N,h,w,C]. */
export async function encodeRowsForText(
  who: string,
  vae: unknown,
  images: tf.Tensor4D,
  seeds: readonly number[],
): Promise<tf.Tensor4D> {
  if (seeds.length !== images.shape[0])
    throw new Error(`${who}: ${images.shape[0]} images and ${seeds.length} seeds`);
  const zs: tf.Tensor4D[] = [];
  try {
    for (let k = 0; k < seeds.length; k++) {
      const x = tf.slice(images, [k, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D;
      try {
        zs.push(await encodeForText(who, vae, x, seeds[k]));
      } finally {
        x.dispose();
      }
    }
    return tf.concat(zs, 0);
  } finally {
    tf.dispose(zs);
  }
}

/** Runs fn on the image's latent and frees the latent afterwards. */
export async function withImageLatent<T>(
  who: string,
  vae: unknown,
  image: unknown,
  seed: number,
  fn: (z: tf.Tensor4D) => Promise<T>,
): Promise<T> {
  const z = await encodeForText(who, vae, image, seed);
  try {
    return await fn(z);
  } finally {
    z.dispose();
  }
}
