/**
 * SelfCheckSelect: keeps the candidate image the model itself reads as most faithful to its prompt
 * (self-check.ts). Placed after VAEDecode with an EmptyLatent batch of several candidates, it turns one
 * text-to-image run into a best-of-N run judged by the model's own text head.
 */
import { defineNode } from '../../server/engine/define-node';
import { tf } from '../../server/runtime/tf';
import { inferenceModel } from '../ddit/inference';
import { isEmptyPlan, PROMPT_READER_NAMES, PROMPT_READERS, type PromptReader } from './prompt-readers';
import { bestOfEach, candidateSeeds, selfCheck, type SelfCheckSettings } from './self-check';
import { CAPTION_PROMPT, VQA_PROMPT } from './templates';
import { asConditioning, asImage, asModel, asTextEncoder, asTokenizer, asVae } from './values';

/** The shipped defaults, which the evaluation also reads from text-to-image.json (sampler-settings.ts). */
export const SELF_CHECK_DEFAULTS = {
  caption_weight: 0,
  prompt_format: VQA_PROMPT,
  answer_length: 32,
  caption_prompt: CAPTION_PROMPT,
  caption_length: 32,
  caption_steps: 16,
} as const;

export const SelfCheckSelect = defineNode({
  type: 'SelfCheckSelect',
  displayName: 'Self-Check Select',
  category: 'sampling',
  description:
    'Best of N judged by the model itself: every candidate image is read back by the D-DiT text head and the ' +
    'one that fits the prompt best is kept. The prompt (from the positive CONDITIONING, or the prompt input) is ' +
    'read by a world\'s reader into questions with the answers it implies (shapes: "is there a red circle?" → ' +
    'yes, counts, a single object\'s place) and relations as caption in-fills ("a · · · left of a · · ·": ' +
    'which object the model puts first); each is one masked forward, its log-probability the score. With ' +
    "caption_weight above 0, a greedy caption of each candidate is also compared with the prompt's relations and " +
    'places (± caption_weight per claim). Candidate k is read with seed + k. A prompt the reader cannot read ' +
    'keeps the first image.',
  inputs: {
    model: { type: 'DDIT_MODEL' },
    text_encoder: { type: 'TEXT_ENCODER' },
    tokenizer: { type: 'TOKENIZER' },
    vae: { type: 'VAE' },
    images: { type: 'IMAGE', tooltip: 'The candidates [N,H,W,3] (EmptyLatent batch_size N)' },
    positive: {
      type: 'CONDITIONING',
      optional: true,
      tooltip: 'The prompt the candidates were drawn for (TextEncode keeps its text)',
    },
    prompt: {
      type: 'STRING',
      default: '',
      tooltip: 'The prompt, when no positive CONDITIONING with text is linked (it wins when both are given)',
    },
    reader: {
      type: 'COMBO',
      choices: PROMPT_READER_NAMES,
      default: 'shapes',
      tooltip: 'How the prompt is read into checks (shapes: the shapes world caption grammar)',
    },
    caption_weight: {
      type: 'FLOAT',
      default: SELF_CHECK_DEFAULTS.caption_weight,
      min: 0,
      max: 100,
      step: 0.5,
      tooltip:
        'Score per relation or place a caption confirms (minus per one it contradicts); 0: no captions',
    },
    prompt_format: { type: 'STRING', default: SELF_CHECK_DEFAULTS.prompt_format },
    answer_length: { type: 'INT', default: SELF_CHECK_DEFAULTS.answer_length, min: 2, max: 4096 },
    caption_prompt: { type: 'STRING', default: SELF_CHECK_DEFAULTS.caption_prompt },
    caption_length: { type: 'INT', default: SELF_CHECK_DEFAULTS.caption_length, min: 1, max: 4096 },
    caption_steps: { type: 'INT', default: SELF_CHECK_DEFAULTS.caption_steps, min: 1, max: 4096 },
    seed: { type: 'INT', default: 0, min: 0, max: 2 ** 53 - 1 },
  },
  outputs: {
    image: { type: 'IMAGE', tooltip: 'The chosen candidate [1,H,W,3]' },
    index: { type: 'INT', tooltip: 'Its index among the candidates' },
    report: { type: 'STRING', tooltip: 'Per candidate: score, answer part, caption (JSON)' },
  },
  async run(inputs, ctx) {
    const who = 'SelfCheckSelect';
    const images = asImage(inputs.images, who, 'images');
    const n = images.shape[0];
    const cond =
      inputs.positive === undefined || inputs.positive === null
        ? undefined
        : asConditioning(inputs.positive, who, 'positive');
    const prompt = inputs.prompt.trim() || cond?.text?.[0];
    if (prompt === undefined) {
      throw new Error(
        `${who}: no prompt to check against: link 'positive' from a TextEncode that encodes text, or fill 'prompt'`,
      );
    }
    const plan = PROMPT_READERS[inputs.reader as PromptReader](prompt);
    const pick = (index: number, report: unknown[]) => ({
      image: tf.slice(images, [index, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D,
      index,
      report: JSON.stringify(report),
    });
    if (isEmptyPlan(plan)) {
      ctx.log.warn(
        `${who}: the ${inputs.reader} reader finds nothing to check in "${prompt}"; keeping image 0`,
      );
      return pick(0, []);
    }
    const settings: SelfCheckSettings = {
      promptFormat: inputs.prompt_format,
      vizwiz: false,
      answerLength: inputs.answer_length,
      captionPrompt: inputs.caption_prompt,
      captionLength: inputs.caption_length,
      captionSteps: inputs.caption_steps,
      captionTemperature: 0,
      captionWeight: inputs.caption_weight,
    };
    ctx.progress(0, 1);
    const res = await selfCheck({
      model: asModel(inferenceModel(inputs.model), who),
      encoder: asTextEncoder(inferenceModel(inputs.text_encoder), who),
      tokenizer: asTokenizer(inputs.tokenizer, who),
      vae: asVae(inferenceModel(inputs.vae), who),
      images,
      plans: Array.from({ length: n }, () => plan),
      seeds: candidateSeeds(inputs.seed, n),
      settings,
      who,
    });
    ctx.progress(1, 1);
    const [best] = bestOfEach(res.scores, n);
    const report = res.scores.map((score, k) => ({
      index: k,
      score: Math.round(score * 1000) / 1000,
      answers: Math.round(res.answers[k] * 1000) / 1000,
      ...(res.captions[k] === undefined ? {} : { caption: res.captions[k] }),
    }));
    ctx.ui({ text: [`kept candidate ${best} of ${n} (score ${report[best].score})`] });
    return pick(best, report);
  },
});
