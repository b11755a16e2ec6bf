/**
 * How much self-check buys, and what more could: for each generated prompt, K candidates are sampled with the
 * shipped text-to-image settings, each is judged, and each is scored by self-check
 * (nodes/sampling/self-check.ts) with the shipped settings. Prints, for the first
 * K = 1, 2, 4, … candidates: the oracle (some candidate passes the judge) and the score when self-check keeps
 * one, with its question part alone and with the in-fills and caption claims added. Asserts nothing
 * (models/README.md, session 10).
 *
 *   npx tsx test/bench/self-check-probe.ts [checkpoint] [--n 120] [--k 8] [--cfg2 3]
 */
import * as path from 'path';
import { initRuntime } from '../../server/runtime';
import { deriveSeed } from '../../server/runtime/nn/random';
import { loadCheckpoint } from '../../nodes/ddit/checkpoint';
import { inferenceModel } from '../../nodes/ddit/inference';
import { T2I_CATEGORIES, type T2ICategory } from '../../nodes/eval/eval-set';
import { dditEvalModel, rgbBatch } from '../../nodes/eval/ddit-model';
import { generateEvalSet } from '../../nodes/eval/generate-eval-set';
import { judgeImage } from '../../nodes/eval/judge';
import { readSamplerSettings } from '../../nodes/eval/sampler-settings';
import { scoreT2I } from '../../nodes/eval/score-t2i';
import { PROMPT_READERS } from '../../nodes/sampling/prompt-readers';
import { selfCheck } from '../../nodes/sampling/self-check';
import { asModel, asTextEncoder, asVae } from '../../nodes/sampling/values';
import { probeArgs } from './probe-args';

async function main(): Promise<void> {
  const { opt, file } = probeArgs();
  const n = Number(opt('--n') ?? 120);
  const K = Number(opt('--k') ?? 8);
  const ckpt = file ?? path.resolve(__dirname, '../../models/ddit-shapes.safetensors');
  await initRuntime();
  const ck = loadCheckpoint(ckpt);
  const shipped = readSamplerSettings();
  const check = shipped.t2i.selfCheck;
  if (!check) throw new Error('self-check-probe: the shipped text-to-image workflow has no SelfCheckSelect');
  // One image per seed (candidate 0 with the item's own seed, as `--sampler t2i.candidates=1` draws it;
  // others with derived seeds): the eval's candidate batch takes its noise from one generator, which the
  // probe cannot reach image by image, so its candidates are drawn alike but not identically.
  const single = { ...shipped, t2i: { ...shipped.t2i, candidates: 1 } };
  const evalModel = dditEvalModel(ck, { settings: single });
  // --cfg2 X: every other candidate (odd k) is drawn with CFG X instead of the workflow's
  const cfg2 = opt('--cfg2');
  const evalModel2 =
    cfg2 === undefined
      ? evalModel
      : dditEvalModel(ck, { settings: { ...single, t2i: { ...single.t2i, cfg: Number(cfg2) } } });
  const parts = {
    model: asModel(inferenceModel(ck.transformer), 'probe'),
    encoder: asTextEncoder(inferenceModel(ck.textEncoder), 'probe'),
    tokenizer: ck.tokenizer,
    vae: asVae(inferenceModel(ck.vae), 'probe'),
  };
  const set = generateEvalSet({ name: 'shapes-generated-777', seed: 777, t2i: n, caption: 0, vqa: 0 });
  console.log(`${path.relative(process.cwd(), ckpt)}: ${n} prompts (seed 777), ${K} candidates each`);

  const pass: boolean[][] = [];
  const answers: number[][] = [];
  const infills: number[][] = [];
  const claims: number[][] = [];
  for (const [index, item] of set.t2i.entries()) {
    const base = deriveSeed(0, `eval:t2i:${index}`);
    const seeds = Array.from({ length: K }, (_, k) => (k === 0 ? base : deriveSeed(base, `candidate:${k}`)));
    const ctx = seeds.map((seed, k) => ({ id: `${item.id}:${k}`, seed }));
    const even = ctx.filter((_, k) => k % 2 === 0);
    const odd = ctx.filter((_, k) => k % 2 === 1);
    const [a, b] = [
      await evalModel.textToImageBatch!(
        even.map(() => item.prompt),
        even,
      ),
      await evalModel2.textToImageBatch!(
        odd.map(() => item.prompt),
        odd,
      ),
    ];
    const images = ctx.map((_, k) => (k % 2 === 0 ? a[k / 2] : b[(k - 1) / 2]));
    pass.push(images.map((img) => scoreT2I(item.require, judgeImage(img)).pass));
    const x = rgbBatch(images);
    const plan = PROMPT_READERS[check.reader](item.prompt);
    const res = await selfCheck({
      ...parts,
      images: x,
      plans: images.map(() => plan),
      seeds,
      settings: { ...check, captionWeight: 1 },
    });
    x.dispose();
    answers.push(res.answers);
    infills.push(res.infills);
    claims.push(res.scores.map((s, k) => s - res.answers[k] - res.infills[k]));
    if ((index + 1) % 20 === 0) console.log(`  ${index + 1}/${n}`);
  }

  const categoryMean = (ok: (i: number) => boolean): string => {
    const by = new Map<T2ICategory, number[]>();
    set.t2i.forEach((item, i) => {
      if (!by.has(item.category)) by.set(item.category, []);
      by.get(item.category)!.push(ok(i) ? 1 : 0);
    });
    const cats = T2I_CATEGORIES.filter((c) => by.has(c)).map((c) => {
      const v = by.get(c)!;
      return [c, v.reduce((a, b) => a + b, 0) / v.length] as const;
    });
    const overall = cats.reduce((a, [, v]) => a + v, 0) / cats.length;
    return `${overall.toFixed(3)} (${cats.map(([c, v]) => `${c} ${v.toFixed(2)}`).join(', ')})`;
  };
  /** Weights of the in-fill and caption parts beside the questions. */
  const variants: [string, number, number][] = [
    ['questions only', 0, 0],
    ['+ in-fills', 1, 0],
    ['+ captions 1', 0, 1],
    ['+ captions 2', 0, 2],
    ['+ in-fills, captions 1', 1, 1],
    ['+ in-fills, captions 2', 1, 2],
  ];
  const kept = (i: number, k: number, wi: number, wc: number): number => {
    const score = (j: number) => answers[i][j] + wi * infills[i][j] + wc * claims[i][j];
    let best = 0;
    for (let j = 1; j < k; j++) if (score(j) > score(best)) best = j;
    return best;
  };
  for (let k = 1; k <= K; k *= 2) {
    console.log(`K = ${k}`);
    console.log(`  ${'oracle'.padEnd(24)} ${categoryMean((i) => pass[i].slice(0, k).some(Boolean))}`);
    for (const [label, wi, wc] of variants)
      console.log(`  ${label.padEnd(24)} ${categoryMean((i) => pass[i][kept(i, k, wi, wc)])}`);
  }
  console.log(`candidates passing: ${(pass.flat().filter(Boolean).length / pass.flat().length).toFixed(3)}`);
  evalModel.dispose();
  if (evalModel2 !== evalModel) evalModel2.dispose();
}

void main().then(() => process.exit(0));
