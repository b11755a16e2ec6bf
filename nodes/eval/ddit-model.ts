/**
 * A loaded D-DiT checkpoint as an EvalModel: the same steps the shipped workflows run, with their settings
 * (sampler-settings.ts), batched over items.
 *
 *   text-to-image  TextEncode (prompt, negative) → CFGGuider → FlowMatchScheduler sigmas → EmptyLatent noised
 *                  with the item's seed → Euler flow sampler → VAE decode (→ SelfCheckSelect of the item's
 *                  candidates, seeded with the item's seed, when the workflow has one);
 *   caption        VAE posterior sample (item seed) → Caption's template → masked sampler (item seed);
 *   vqa            as caption, with AnswerQuestion's template for the question; questions its reader restates
 *                  as captions are answered by reading those (read-answers.ts) from the same latent.
 * Each item gets its own noise and its own text-sampler generator, so an item samples what the workflow run
 * alone with seed = the item's seed would (up to floating-point differences of a batched forward).
 */
import { tf } from '../../server/runtime/tf';
import type { DDiT } from '../ddit/model';
import { inferenceModel } from '../ddit/inference';
import type { RgbImage } from '../data/shapes/render';
import { CfgGuider } from '../sampling/cfg';
import { noisedStart, sampleEuler } from '../sampling/euler';
import { truncatedSigmas } from '../sampling/flow-schedule';
import { Rng } from '../sampling/random';
import { sampleTextBatch } from '../sampling/text-sampling';
import { captionTemplateFor, encodeRowsForText, questionTemplate } from '../sampling/text-tasks';
import type { TextEncoderLike } from '../sampling/interfaces';
import type { TextTemplate } from '../sampling/templates';
import { asModel, asTextEncoder, asVae } from '../sampling/values';
import { PROMPT_READERS } from '../sampling/prompt-readers';
import { QUESTION_READERS } from '../sampling/question-readers';
import { readAnswers } from '../sampling/read-answers';
import { bestOfEach, candidateSeeds, selfCheck, type SelfCheckPlan } from '../sampling/self-check';
import type { T5Encoder } from '../text/t5';
import type { TextTokenizer } from '../text/tokenizer';
import type { AutoencoderKL } from '../vae/model';
import type { EvalModel, ItemContext } from './run-eval';
import type { SamplerSettings } from './sampler-settings';

export interface DDiTParts {
  transformer: DDiT;
  vae: AutoencoderKL;
  textEncoder: T5Encoder;
  tokenizer: TextTokenizer;
}

export interface DDiTEvalOptions {
  settings: SamplerSettings;
  name?: string;
  /**
   * The text-to-image control: the prompt is replaced by the negative prompt ("" in the shipped workflow),
   * i.e. the unconditional velocity that CFG 0 would give, in one pass per step.
   */
  unconditional?: boolean;
  /** Overrides the text-sampler steps of both captioning and VQA (the steps ablation). */
  textSteps?: number;
}

export interface DDiTEvalModel extends EvalModel {
  /** Frees the cached prompt encodings (the checkpoint's models belong to the caller). */
  dispose(): void;
}

/** RGB images of one size as a batch [N,H,W,3]. */
export function rgbBatch(images: readonly RgbImage[]): tf.Tensor4D {
  const { width, height } = images[0];
  const per = width * height * 3;
  const data = new Float32Array(images.length * per);
  images.forEach((img, b) => {
    if (img.width !== width || img.height !== height)
      throw new Error('D-DiT eval model: the images of one batch must have the same size');
    data.set(img.data, b * per);
  });
  return tf.tensor4d(data, [images.length, height, width, 3]);
}

async function toImages(t: tf.Tensor4D): Promise<RgbImage[]> {
  const [batch, height, width] = t.shape;
  const data = (await t.data()) as Float32Array;
  const per = height * width * 3;
  return Array.from({ length: batch }, (_, b) => {
    const out = new Float32Array(per);
    for (let i = 0; i < per; i++) out[i] = Math.min(1, Math.max(0, data[b * per + i]));
    return { width, height, data: out };
  });
}

/** Encoder states [B, length, D] of prompts, each tokenised to exactly `length` ids (EOS-padded). */
export async function encodePrompts(
  encoder: TextEncoderLike,
  tok: TextTokenizer,
  texts: string[],
  length: number,
): Promise<tf.Tensor3D> {
  const ids = tf.tensor2d(
    texts.map((t) => tok.encodePadded(t, length)),
    undefined,
    'int32',
  );
  try {
    return await encoder.encode(ids);
  } finally {
    ids.dispose();
  }
}

export function dditEvalModel(parts: DDiTParts, options: DDiTEvalOptions): DDiTEvalModel {
  const who = 'eval';
  const { settings } = options;
  const tok = parts.tokenizer;
  const model = asModel(inferenceModel(parts.transformer), who);
  const encoder = asTextEncoder(inferenceModel(parts.textEncoder), who);
  const vae = asVae(inferenceModel(parts.vae), who);
  const encoded = new Map<string, tf.Tensor3D>();

  const encode = (texts: string[], length: number): Promise<tf.Tensor3D> =>
    encodePrompts(encoder, tok, texts, length);
  /** Encodings reused by every batch (the negative prompt), kept until dispose(). */
  const encodeOnce = async (text: string, length: number): Promise<tf.Tensor3D> => {
    const key = `${length}\0${text}`;
    let e = encoded.get(key);
    if (!e) encoded.set(key, (e = await encode([text], length)));
    return e;
  };

  /** SelfCheckSelect's choice among each item's n candidates (rows i·n … i·n + n − 1 of images). */
  const pickCandidates = async (
    prompts: string[],
    ctx: ItemContext[],
    images: tf.Tensor4D,
    n: number,
  ): Promise<number[]> => {
    const sc = settings.t2i.selfCheck!;
    const read = PROMPT_READERS[sc.reader];
    const plans = prompts.map((p) => read(p));
    // each item's candidates share its plan object (self-check builds a plan's rows once)
    const res = await selfCheck({
      model,
      encoder,
      tokenizer: tok,
      vae,
      images,
      plans: plans.flatMap((p) => new Array<SelfCheckPlan>(n).fill(p)),
      seeds: ctx.flatMap((c) => candidateSeeds(c.seed, n)),
      settings: sc,
      who: 'eval self-check',
    });
    return bestOfEach(res.scores, n);
  };

  const textToImageBatch = async (prompts: string[], ctx: ItemContext[]): Promise<RgbImage[]> => {
    const s = settings.t2i;
    const negative = s.negative ? await encodeOnce(s.negative.text, s.negative.length) : undefined;
    const selfCheckOn = !options.unconditional && s.selfCheck !== undefined && s.candidates > 1;
    let guider: CfgGuider;
    let positive: tf.Tensor3D | undefined;
    if (options.unconditional) {
      guider = new CfgGuider(model, { embeds: negative ?? (await encodeOnce('', s.length)) }, undefined, 1);
    } else {
      positive = await encode(prompts, s.length);
      if (selfCheckOn) {
        // each prompt once through the encoder, its state repeated for the item's candidates
        const rows = tf.tensor1d(
          prompts.flatMap((_, i) => new Array<number>(s.candidates).fill(i)),
          'int32',
        );
        const repeated = tf.gather(positive, rows) as tf.Tensor3D;
        tf.dispose([rows, positive]);
        positive = repeated;
      }
      guider = new CfgGuider(
        model,
        { embeds: positive },
        negative ? { embeds: negative } : undefined,
        s.cfg,
        who,
      );
    }
    const sigmas = truncatedSigmas(s.steps, s.shift, s.denoise);
    const f = parts.vae.config.downsample_factor;
    const C = parts.vae.config.latent_channels;
    if (s.width % f !== 0 || s.height % f !== 0)
      throw new Error(`eval: ${s.width}×${s.height} is not divisible by the VAE's factor ${f}`);
    // With a self-check, each item draws its N candidates as the workflow's EmptyLatent batch of N would.
    const n = selfCheckOn ? s.candidates : 1;
    const empty = tf.zeros([n, s.height / f, s.width / f, C]) as tf.Tensor4D;
    const starts = ctx.map((c) => noisedStart(empty, sigmas[0], new Rng(c.seed)));
    const z = tf.concat(starts, 0);
    tf.dispose([empty, ...starts]);
    let samples: tf.Tensor4D | undefined;
    let images: tf.Tensor4D | undefined;
    try {
      samples = await sampleEuler(guider, sigmas, z);
      images = await vae.decode(samples);
      if (n === 1) return await toImages(images);
      const all = await toImages(images);
      const chosen = await pickCandidates(prompts, ctx, images, n);
      return chosen.map((k, i) => all[i * n + k]);
    } finally {
      tf.dispose([
        z,
        ...(samples ? [samples] : []),
        ...(images ? [images] : []),
        ...(positive ? [positive] : []),
      ]);
    }
  };

  /** Posterior samples of each image with its item's seed, as the Caption / AnswerQuestion nodes take them. */
  const latents = async (images: RgbImage[], ctx: ItemContext[], node: string): Promise<tf.Tensor4D> => {
    const x = rgbBatch(images);
    try {
      return await encodeRowsForText(
        node,
        parts.vae,
        x,
        ctx.map((c) => c.seed),
      );
    } finally {
      x.dispose();
    }
  };

  const sampleLatents = (
    latent: tf.Tensor4D,
    templates: TextTemplate[],
    steps: number,
    temperature: number,
    ctx: ItemContext[],
  ): Promise<string[]> =>
    sampleTextBatch({
      model,
      encoder,
      tokenizer: tok,
      latent,
      templates,
      seeds: ctx.map((c) => c.seed),
      steps,
      temperature,
    });

  const sample = async (
    images: RgbImage[],
    templates: TextTemplate[],
    steps: number,
    temperature: number,
    ctx: ItemContext[],
    node: string,
  ): Promise<string[]> => {
    const latent = await latents(images, ctx, node);
    try {
      return await sampleLatents(latent, templates, steps, temperature, ctx);
    } finally {
      latent.dispose();
    }
  };

  /** AnswerQuestion: questions its reader restates are read, the others sampled, all from one latent each. */
  const answer = async (items: { image: RgbImage; question: string }[], ctx: ItemContext[]) => {
    const s = settings.vqa;
    const who = 'AnswerQuestion';
    const latent = await latents(
      items.map((it) => it.image),
      ctx,
      who,
    );
    try {
      const readings = items.map((it) => QUESTION_READERS[s.reader](it.question));
      const read = await readAnswers({ model, encoder, tokenizer: tok, who }, latent, readings, s);
      const rest = items.flatMap((_, i) => (read[i] ? [] : [i]));
      const out = read.map((r) => r?.answer ?? '');
      if (rest.length === 0) return out;
      const idx = tf.tensor1d(rest, 'int32');
      const z = tf.gather(latent, idx) as tf.Tensor4D;
      idx.dispose();
      try {
        const texts = await sampleLatents(
          z,
          rest.map((i) => questionTemplate(items[i].question, s.promptFormat, s.vizwiz, s.length, tok)),
          options.textSteps ?? s.steps,
          s.temperature,
          rest.map((i) => ctx[i]),
        );
        rest.forEach((i, k) => (out[i] = texts[k]));
      } finally {
        z.dispose();
      }
      return out;
    } finally {
      latent.dispose();
    }
  };

  return {
    name: options.name,
    textToImageBatch,
    captionBatch: (images, ctx) => {
      const s = settings.caption;
      const template = captionTemplateFor(s.prompt, s.length, tok);
      return sample(
        images,
        images.map(() => template),
        options.textSteps ?? s.steps,
        s.temperature,
        ctx,
        'Caption',
      );
    },
    answerBatch: answer,
    dispose: () => {
      tf.dispose([...encoded.values()]);
      encoded.clear();
    },
  };
}
