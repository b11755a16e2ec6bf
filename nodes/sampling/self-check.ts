/**
 * Self-check: the D-DiT's text head scores candidate images for a prompt, so that the best of several samples
 * can be kept. The same model that drew an image reads it back:
 *
 *   score = Σ_q log p(answer_q | image, question_q)  +  Σ_f log p(words_f | image, in-fill_f)  +  w · claims(caption)
 *
 * where the questions and their answers come from the prompt (a world-specific reader, see
 * nodes/data/shapes/prompt-checks.ts), each answer's probability is read at the first position of the answer
 * slot with the whole slot masked (one forward per question, no sampling), questions of one group are
 * alternatives of which the best counts, in-fills read expected words of a caption whose other words are fixed
 * or masked (which object the model would name first in "a · · · left of a · · ·"), and claims(caption) compares
 * a caption sampled for the image (as the Caption node would) with the prompt's relations and positions. Higher
 * is better.
 */
import { tf } from '../../server/runtime/tf';
import type { DualModel, TextEncoderLike, TokenizerLike, VaeLike } from './interfaces';
import { firstToken, infillRow, readRows, type CheckInfill, type ReadRow } from './infill-reading';
import { sampleTextBatch } from './text-sampling';
import { captionTemplateFor, encodeRowsForText, questionTemplate } from './text-tasks';

export interface CheckQuestion {
  question: string;
  answer: string;
  /** Questions with the same group are alternatives; the best-answered one counts. */
  group?: number;
}

/** What one candidate is checked against (from its prompt). */
export interface SelfCheckPlan {
  questions: readonly CheckQuestion[];
  /** Caption in-fills read like the questions (one masked forward each). */
  infills?: readonly CheckInfill[];
  /** Scores a caption of the candidate against the prompt; absent: no caption is sampled for it. */
  claims?: (caption: string) => number;
}

export interface SelfCheckSettings {
  /** AnswerQuestion's prompt format ({question} is replaced), its VizWiz hint and token length. */
  promptFormat: string;
  vizwiz: boolean;
  answerLength: number;
  /** Caption's prompt, token length, steps and temperature. */
  captionPrompt: string;
  captionLength: number;
  captionSteps: number;
  captionTemperature: number;
  /** w above; 0 samples no captions. */
  captionWeight: number;
}

export interface SelfCheckRequest {
  model: DualModel;
  encoder: TextEncoderLike;
  tokenizer: TokenizerLike;
  vae: VaeLike;
  /** Candidate images [N, H, W, 3] in [0, 1]. */
  images: tf.Tensor4D;
  /** One plan and one seed (VAE posterior sample, caption sampler) per image. */
  plans: readonly SelfCheckPlan[];
  seeds: readonly number[];
  settings: SelfCheckSettings;
  /** Rows per text-head forward (default 64). */
  chunk?: number;
  who?: string;
}

export interface SelfCheckResult {
  /** Per image: the total score, its question and in-fill parts, and the caption read (when one was sampled). */
  scores: number[];
  answers: number[];
  infills: number[];
  captions: (string | undefined)[];
}

/** fn memoised per plan object: the candidates of one prompt share a plan, whose rows are built once. */
function perPlan<T>(fn: (plan: SelfCheckPlan) => T): (plan: SelfCheckPlan) => T {
  const built = new Map<SelfCheckPlan, T>();
  return (plan) => {
    let v = built.get(plan);
    if (v === undefined) built.set(plan, (v = fn(plan)));
    return v;
  };
}

/** Log-probabilities of each plan's answers, summed per image (the best of each group). */
async function answerScores(req: SelfCheckRequest, z: tf.Tensor4D, who: string): Promise<number[]> {
  const { tokenizer: tok, settings: s } = req;
  const rowsOf = perPlan((plan) =>
    plan.questions.map((q) => {
      const t = questionTemplate(q.question, s.promptFormat, s.vizwiz, s.answerLength, tok, who);
      if (t.firstMasked >= t.ids.length)
        throw new Error(`${who}: the question '${q.question}' leaves no room for an answer`);
      return {
        ids: t.ids,
        reads: [{ pos: t.firstMasked, token: firstToken(tok, q.answer, who) }],
        group: q.group,
      };
    }),
  );
  const rows = req.plans.flatMap((plan, image) => rowsOf(plan).map((r) => ({ ...r, image })));
  const logp = await readRows(req, z, rows, s.answerLength);
  const out = new Array<number>(req.plans.length).fill(0);
  const best = new Map<string, number>();
  rows.forEach((r, i) => {
    if (r.group === undefined) out[r.image] += logp[i];
    else {
      const key = `${r.image}:${r.group}`;
      best.set(key, Math.max(best.get(key) ?? -Infinity, logp[i]));
    }
  });
  for (const [key, v] of best) out[Number(key.split(':')[0])] += v;
  return out;
}

/** Log-probabilities of the words each plan's infills expect, summed per image. */
async function infillScores(req: SelfCheckRequest, z: tf.Tensor4D, who: string): Promise<number[]> {
  const { tokenizer: tok, settings: s } = req;
  const rowsOf = perPlan((plan) => (plan.infills ?? []).map((f) => infillRow(f, s, tok, who)));
  const rows: ReadRow[] = req.plans.flatMap((plan, image) => rowsOf(plan).map((r) => ({ ...r, image })));
  const logp = await readRows(req, z, rows, s.captionLength);
  const out = new Array<number>(req.plans.length).fill(0);
  rows.forEach((r, i) => (out[r.image] += logp[i]));
  return out;
}

export async function selfCheck(req: SelfCheckRequest): Promise<SelfCheckResult> {
  const who = req.who ?? 'self-check';
  const n = req.images.shape[0];
  if (req.plans.length !== n || req.seeds.length !== n)
    throw new Error(`${who}: ${n} images, ${req.plans.length} plans and ${req.seeds.length} seeds`);
  const z = await encodeRowsForText(who, req.vae, req.images, req.seeds);
  try {
    const answers = await answerScores(req, z, who);
    const infills = await infillScores(req, z, who);
    const scores = answers.map((a, k) => a + infills[k]);
    const captions: (string | undefined)[] = new Array<string | undefined>(n).fill(undefined);
    const s = req.settings;
    const want = req.plans.map((p, k) => (p.claims && s.captionWeight !== 0 ? k : -1)).filter((k) => k >= 0);
    if (want.length > 0) {
      const template = captionTemplateFor(s.captionPrompt, s.captionLength, req.tokenizer, who);
      const idx = tf.tensor1d(want, 'int32');
      const zc = tf.gather(z, idx) as tf.Tensor4D;
      idx.dispose();
      let texts: string[];
      try {
        texts = await sampleTextBatch({
          model: req.model,
          encoder: req.encoder,
          tokenizer: req.tokenizer,
          latent: zc,
          templates: want.map(() => template),
          seeds: want.map((k) => req.seeds[k]),
          steps: s.captionSteps,
          temperature: s.captionTemperature,
        });
      } finally {
        zc.dispose();
      }
      want.forEach((k, i) => {
        captions[k] = texts[i];
        scores[k] += s.captionWeight * req.plans[k].claims!(texts[i]);
      });
    }
    return { scores, answers, infills, captions };
  } finally {
    z.dispose();
  }
}

/** The seeds candidates 0 … n − 1 are read with: seed + k (SelfCheckSelect, and the evaluation per item). */
export function candidateSeeds(seed: number, n: number): number[] {
  return Array.from({ length: n }, (_, k) => seed + k);
}

/** The index of the highest score in each run of `per` consecutive scores (the first on ties). */
export function bestOfEach(scores: readonly number[], per: number): number[] {
  if (per < 1 || scores.length % per !== 0)
    throw new Error(`bestOfEach: ${scores.length} scores do not split into groups of ${per}`);
  const out: number[] = [];
  for (let g = 0; g < scores.length; g += per) {
    let best = g;
    for (let k = g + 1; k < g + per; k++) if (scores[k] > scores[best]) best = k;
    out.push(best - g);
  }
  return out;
}
