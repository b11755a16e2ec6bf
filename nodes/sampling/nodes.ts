/**
 * Node definitions of the sampling pack: flow-matching image sampling with guidance, and masked
 * text sampling (captioning, question answering, free-form in-filling).
 */
import { defineNode } from '../../server/engine/define-node';
import { inferenceModel } from '../ddit/inference';
import { CfgGuider } from './cfg';
import { noisedStart, sampleEuler } from './euler';
import { assertSigmas, truncatedSigmas } from './flow-schedule';
import type { VaeLike } from './interfaces';
import { latentPreview } from './preview';
import { Rng } from './random';
import { QUESTION_READER_NAMES, QUESTION_READERS, type QuestionReader } from './question-readers';
import { readAnswers } from './read-answers';
import { answeredTokens, sampleText, sendTextState } from './text-sampling';
import { CAPTION_PROMPT, captionTemplate, parseTemplate, VQA_PROMPT } from './templates';
import { captionTemplateFor, questionTemplate, withImageLatent } from './text-tasks';
import { asConditioning, asGuider, asLatent, asModel, asTextEncoder, asTokenizer, asVae } from './values';

const SEED = { type: 'INT', default: 0, min: 0, max: 2 ** 53 - 1, control: 'randomize' } as const;

export const FlowMatchScheduler = defineNode({
  type: 'FlowMatchScheduler',
  displayName: 'Flow-Match Scheduler',
  category: 'sampling',
  description:
    'SD3-style noise levels for the flow sampler (spec §3.1): u = linspace(1, σ_min′, steps) with σ_min′ the smallest ' +
    'shifted training sigma, σ = s·u/(1+(s−1)·u), then a final 0. denoise < 1 keeps the tail of a longer schedule ' +
    '(image-to-image).',
  inputs: {
    steps: { type: 'INT', default: 28, min: 1, max: 1000 },
    shift: { type: 'FLOAT', default: 3.0, min: 0.01, max: 100, step: 0.1 },
    denoise: { type: 'FLOAT', default: 1.0, min: 0.01, max: 1, step: 0.01 },
  },
  outputs: { sigmas: { type: 'SIGMAS' } },
  run({ steps, shift, denoise }) {
    return { sigmas: truncatedSigmas(steps, shift, denoise) };
  },
});

export const CFGGuider = defineNode({
  type: 'CFGGuider',
  displayName: 'CFG Guider',
  category: 'sampling',
  description:
    'Classifier-free guidance v = v_u + cfg·(v_c − v_u) as a reusable GUIDER. cfg = 1 runs one conditional pass; ' +
    'other values also run the negative prompt (encode "" for plain guidance), batched with the positive one when ' +
    'both have the same length.',
  inputs: {
    model: { type: 'DDIT_MODEL' },
    positive: { type: 'CONDITIONING' },
    negative: { type: 'CONDITIONING', optional: true },
    cfg: { type: 'FLOAT', default: 7.0, min: 0, max: 30, step: 0.1 },
  },
  outputs: { guider: { type: 'GUIDER' } },
  run({ model, positive, negative, cfg }) {
    const who = 'CFGGuider';
    return {
      guider: new CfgGuider(
        asModel(inferenceModel(model), who),
        asConditioning(positive, who, 'positive'),
        negative === undefined ? undefined : asConditioning(negative, who, 'negative'),
        cfg,
        who,
      ),
    };
  },
});

export const FlowMatchSampler = defineNode({
  type: 'FlowMatchSampler',
  displayName: 'Flow-Match Sampler',
  category: 'sampling',
  description:
    'Euler sampler for rectified-flow latents (spec §3.1), in float32: z ← z + (σ_{i+1} − σ_i)·v over SIGMAS. ' +
    'Starts from seeded noise mixed with the input latent at the first sigma (pure noise at σ = 1, so an empty ' +
    'latent only sets the shape and batch). Each step previews the clean-latent estimate z − σ·v: with the ' +
    "VAE's latent→RGB factors, or decoded by the VAE when preview = vae.",
  inputs: {
    guider: { type: 'GUIDER' },
    sigmas: { type: 'SIGMAS' },
    latent: { type: 'LATENT' },
    seed: SEED,
    vae: { type: 'VAE', optional: true },
    preview: { type: 'COMBO', choices: ['latent2rgb', 'vae', 'none'], default: 'latent2rgb' },
  },
  outputs: { latent: { type: 'LATENT' } },
  async run({ guider, sigmas, latent, seed, vae, preview }, ctx) {
    const who = 'FlowMatchSampler';
    const g = asGuider(guider, who);
    assertSigmas(sigmas, who);
    const start = asLatent(latent, who);
    const v: VaeLike | undefined = vae === undefined ? undefined : asVae(inferenceModel(vae), who);
    if (preview === 'vae' && !v) throw new Error(`${who}: preview = vae needs the 'vae' input`);
    const z = noisedStart(start, sigmas[0], new Rng(seed));
    try {
      const samples = await sampleEuler(g, sigmas, z, async ({ index, total, x0 }) => {
        await ctx.interruptionPoint();
        if (preview === 'none') ctx.progress(index + 1, total);
        else ctx.progress(index + 1, total, await latentPreview(x0, v, preview === 'vae'));
      });
      return { latent: { samples } };
    } finally {
      z.dispose();
    }
  },
});

interface TextModels {
  model: ReturnType<typeof asModel>;
  encoder: ReturnType<typeof asTextEncoder>;
  tokenizer: ReturnType<typeof asTokenizer>;
}

function textModels(who: string, model: unknown, textEncoder: unknown, tokenizer: unknown): TextModels {
  return {
    model: asModel(inferenceModel(model), who),
    encoder: asTextEncoder(inferenceModel(textEncoder), who),
    tokenizer: asTokenizer(tokenizer, who),
  };
}

const TEXT_SAMPLER_NOTE =
  'MDLM ancestral sampler with caching (spec §3.2): p = SUBS(f(z₀, τ=0, Enc(x))); a masked token stays masked with ' +
  'probability s/t, else becomes v with probability p(v), drawn exactly (exponential race, seeded); unmasked ' +
  'tokens never change; a step that changed nothing reuses p; leftover masks take argmax p at the end. ' +
  'temperature below 1 sharpens the draw of a revealed token (p^(1/T)); 0 takes the most probable token.';

const TEMPERATURE = {
  type: 'FLOAT',
  default: 1,
  min: 0,
  max: 10,
  step: 0.05,
  tooltip:
    'Token temperature: 1 draws a revealed token from p as the reference sampler does; lower values sharpen p, ' +
    '0 takes the most probable token (greedy, best for one-word answers). When positions are revealed does not change.',
} as const;

export const MaskedTextSampler = defineNode({
  type: 'MaskedTextSampler',
  displayName: 'Masked Text Sampler',
  category: 'sampling/text',
  description:
    `${TEXT_SAMPLER_NOTE} Modes: caption (every position masked) and infill (a template: plain text is fixed, ` +
    '[MASK] or <extra_id_0> is one masked token, [MASK*n] is n, [EOS] ends the sequence; without [EOS] the rest up ' +
    'to the length is the masked answer slot). Outputs the generated part (from the first masked position, cut at ' +
    'the first EOS), the whole text, and the token states.',
  inputs: {
    model: { type: 'DDIT_MODEL' },
    text_encoder: { type: 'TEXT_ENCODER' },
    tokenizer: { type: 'TOKENIZER' },
    latent: { type: 'LATENT' },
    mode: { type: 'COMBO', choices: ['caption', 'infill'], default: 'caption' },
    template: {
      type: 'STRING',
      default: '',
      multiline: true,
      placeholder: 'a [MASK] circle left of a [MASK*2]',
    },
    length: { type: 'INT', default: 128, min: 1, max: 4096 },
    steps: { type: 'INT', default: 64, min: 1, max: 4096 },
    temperature: TEMPERATURE,
    seed: SEED,
  },
  outputs: { text: { type: 'STRING' }, full_text: { type: 'STRING' }, tokens: { type: 'TEXT_TOKENS' } },
  async run(
    { model, text_encoder, tokenizer, latent, mode, template, length, steps, temperature, seed },
    ctx,
  ) {
    const who = 'MaskedTextSampler';
    const m = textModels(who, model, text_encoder, tokenizer);
    const tpl =
      mode === 'caption'
        ? captionTemplate(length, m.tokenizer)
        : parseTemplate(template, length, m.tokenizer, who);
    const res = await sampleText(
      { ...m, latent: asLatent(latent, who), template: tpl, steps, temperature, seed },
      ctx,
    );
    return { text: res.text, full_text: res.fullText, tokens: res.tokens };
  },
});

export const Caption = defineNode({
  type: 'Caption',
  category: 'sampling/text',
  description:
    'Describes an image: VAE posterior sample, then the masked sampler with every position masked (spec §3.2). ' +
    'With a prompt, its tokens (trailing EOS dropped) are fixed and the caption is in-filled after them, for models ' +
    'trained with that caption prompt (MaskedDiffusionLoss caption_prompt): fixed tokens give the text positions ' +
    'something to be told apart by, which an all-masked start cannot. ' +
    TEXT_SAMPLER_NOTE,
  inputs: {
    model: { type: 'DDIT_MODEL' },
    text_encoder: { type: 'TEXT_ENCODER' },
    tokenizer: { type: 'TOKENIZER' },
    vae: { type: 'VAE' },
    image: { type: 'IMAGE' },
    prompt: { type: 'STRING', default: '' },
    length: { type: 'INT', default: 128, min: 1, max: 4096 },
    steps: { type: 'INT', default: 64, min: 1, max: 4096 },
    temperature: TEMPERATURE,
    seed: SEED,
  },
  outputs: { text: { type: 'STRING' }, tokens: { type: 'TEXT_TOKENS' } },
  async run({ model, text_encoder, tokenizer, vae, image, prompt, length, steps, temperature, seed }, ctx) {
    const who = 'Caption';
    const m = textModels(who, model, text_encoder, tokenizer);
    const template = captionTemplateFor(prompt, length, m.tokenizer, who);
    const res = await withImageLatent(who, vae, image, seed, (latent) =>
      sampleText({ ...m, latent, template, steps, temperature, seed }, ctx),
    );
    return { text: res.text, tokens: res.tokens };
  },
});

export const AnswerQuestion = defineNode({
  type: 'AnswerQuestion',
  displayName: 'Answer Question',
  category: 'sampling/text',
  description:
    'Visual question answering by in-filling (spec §3.3): the prompt (prompt_format with {question}) is tokenised ' +
    'and its trailing EOS dropped, as in instruction tuning; those tokens are fixed and everything after them up to ' +
    'the length is the answer slot. The answer is cut at the first EOS. vizwiz adds the "unanswerable" hint. ' +
    'With a reader, questions it knows are answered by reading instead: each possible answer is restated as ' +
    'captions (shapes: "is the circle left of the square?" → "a · · · circle left of a · · · square" for yes, ' +
    "the objects swapped for no) in caption_prompt's format, and the answer whose captions the text head finds " +
    'likeliest wins (one masked forward each, no sampling). ' +
    TEXT_SAMPLER_NOTE,
  inputs: {
    model: { type: 'DDIT_MODEL' },
    text_encoder: { type: 'TEXT_ENCODER' },
    tokenizer: { type: 'TOKENIZER' },
    vae: { type: 'VAE' },
    image: { type: 'IMAGE' },
    question: { type: 'STRING', default: 'What is in the image?', multiline: true },
    prompt_format: { type: 'STRING', default: VQA_PROMPT },
    vizwiz: { type: 'BOOLEAN', default: false },
    length: { type: 'INT', default: 128, min: 1, max: 4096 },
    steps: { type: 'INT', default: 32, min: 1, max: 4096 },
    temperature: TEMPERATURE,
    seed: SEED,
    reader: {
      type: 'COMBO',
      choices: QUESTION_READER_NAMES,
      default: 'none',
      tooltip:
        'Questions this reader restates as captions are answered by reading them (none: always sample)',
    },
    caption_prompt: {
      type: 'STRING',
      default: CAPTION_PROMPT,
      tooltip: "The Caption node's prompt the model was trained with, which the reader's captions follow",
    },
    caption_length: { type: 'INT', default: 32, min: 1, max: 4096, tooltip: "The Caption node's length" },
  },
  outputs: { answer: { type: 'STRING' }, tokens: { type: 'TEXT_TOKENS' } },
  async run(
    {
      model,
      text_encoder,
      tokenizer,
      vae,
      image,
      question,
      prompt_format,
      vizwiz,
      length,
      steps,
      temperature,
      seed,
      reader,
      caption_prompt,
      caption_length,
    },
    ctx,
  ) {
    const who = 'AnswerQuestion';
    const m = textModels(who, model, text_encoder, tokenizer);
    const tpl = questionTemplate(question, prompt_format, vizwiz, length, m.tokenizer, who);
    const options = QUESTION_READERS[reader as QuestionReader](question);
    return withImageLatent(who, vae, image, seed, async (latent) => {
      if (options) {
        ctx.progress(0, 1);
        sendTextState(ctx, m.tokenizer, tpl, tpl.ids, 0, 1);
        const [read] = await readAnswers({ ...m, who }, latent, [options], {
          captionPrompt: caption_prompt,
          captionLength: caption_length,
        });
        ctx.progress(1, 1);
        const tokens = answeredTokens(tpl, read!.answer, m.tokenizer);
        sendTextState(ctx, m.tokenizer, tpl, tokens.tokens[0], 1, 1);
        ctx.ui({
          text: [
            `read by the ${reader} reader: ${options.map((o, k) => `${o.answer} ${read!.scores[k].toFixed(2)}`).join(', ')}`,
          ],
        });
        return { answer: read!.answer, tokens };
      }
      const res = await sampleText({ ...m, latent, template: tpl, steps, temperature, seed }, ctx);
      return { answer: res.text, tokens: res.tokens };
    });
  },
});
