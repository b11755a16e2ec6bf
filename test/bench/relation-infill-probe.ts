/**
 * Can the caption head answer relation questions the VQA head answers at chance? For each "is the {a} {rel}
 * the {b}?" question of a generated VQA set, the rendered scene is read with four caption in-fills
 * ("a · · · {rel} a · · ·" naming a first and b second, or b first; the converse relation likewise) and the
 * question is answered yes when the in-fills favour a {rel} b by more than a margin. Prints the accuracy at
 * several margins, split by why the answer is what it is (yes, no because the converse holds, no because
 * neither object is clearly past the other). Asserts nothing.
 *
 *   npx tsx test/bench/relation-infill-probe.ts [checkpoint] [--n 2000] [--seed 4242] [--forms shipped|both|stated|axes]
 */
import * as path from 'path';
import { initRuntime } from '../../server/runtime';
import { loadCheckpoint } from '../../nodes/ddit/checkpoint';
import { inferenceModel } from '../../nodes/ddit/inference';
import { rgbBatch } from '../../nodes/eval/ddit-model';
import { generateEvalSet } from '../../nodes/eval/generate-eval-set';
import { readSamplerSettings } from '../../nodes/eval/sampler-settings';
import { renderScene } from '../../nodes/data/shapes/render';
import { parseQuestion } from '../../nodes/data/shapes/questions';
import { CONVERSE, relationMargin } from '../../nodes/data/shapes/relations';
import { relationInfill } from '../../nodes/data/shapes/prompt-checks';
import { QUESTION_READERS } from '../../nodes/sampling/question-readers';
import { readAnswers, type AnswerOption } from '../../nodes/sampling/read-answers';
import { encodeRowsForText } from '../../nodes/sampling/text-tasks';
import { asModel, asTextEncoder, asVae } from '../../nodes/sampling/values';
import { probeArgs } from './probe-args';

/**
 * The reading of a relation question: 'shipped' (the reader's: the full caption's form, "left of" or "above",
 * objects in the order the question implies), 'both' (the relation as asked and its converse, summed) or
 * 'stated' (only the relation as asked), 'axes' (the shipped reading, "no" also when the other axis' caption
 * reads better in either order).
 */
function readingOf(question: string, forms: string): AnswerOption[] | undefined {
  if (forms === 'shipped') return QUESTION_READERS.shapes(question);
  if (forms === 'axes') {
    // the shipped reading, and "no" also when the other axis' caption (either order) reads better
    const shipped = QUESTION_READERS.shapes(question)!;
    const q = parseQuestion(question);
    if (q?.kind !== 'relation') return undefined;
    const other = q.rel === 'left of' || q.rel === 'right of' ? 'above' : 'left of';
    const [a, b] = [{ shape: q.a }, { shape: q.b }];
    return [
      ...shipped,
      { answer: 'no', infills: [relationInfill(other, a, b)] },
      { answer: 'no', infills: [relationInfill(other, b, a)] },
    ];
  }
  const p = parseQuestion(question);
  if (p?.kind !== 'relation') return undefined;
  const [a, b] = [{ shape: p.a }, { shape: p.b }];
  const c = CONVERSE[p.rel];
  const both = forms === 'both';
  return [
    { answer: 'yes', infills: [relationInfill(p.rel, a, b), ...(both ? [relationInfill(c, b, a)] : [])] },
    { answer: 'no', infills: [relationInfill(p.rel, b, a), ...(both ? [relationInfill(c, a, b)] : [])] },
  ];
}

async function main(): Promise<void> {
  const { opt, file } = probeArgs();
  const n = Number(opt('--n') ?? 2000);
  const seed = Number(opt('--seed') ?? 4242);
  const forms = opt('--forms') ?? 'shipped';
  const ckpt = file ?? path.resolve(__dirname, '../../models/ddit-shapes.safetensors');
  await initRuntime();
  const ck = loadCheckpoint(ckpt);
  const format = readSamplerSettings().vqa;
  const reader = {
    model: asModel(inferenceModel(ck.transformer), 'probe'),
    encoder: asTextEncoder(inferenceModel(ck.textEncoder), 'probe'),
    tokenizer: ck.tokenizer,
    who: 'probe',
  };
  const vae = asVae(inferenceModel(ck.vae), 'probe');
  const set = generateEvalSet({ name: 'probe', seed, t2i: 0, caption: 0, vqa: n });
  const items = set.vqa.flatMap((it) => {
    const p = parseQuestion(it.question);
    if (p?.kind !== 'relation') return [];
    const a = it.scene.objects.find((o) => o.shape === p.a)!;
    const b = it.scene.objects.find((o) => o.shape === p.b)!;
    const why = it.answer === 'yes' ? 'yes' : relationMargin(b, a, p.rel) > 0 ? 'converse' : 'neither';
    return [{ it, why }];
  });
  console.log(
    `${path.relative(process.cwd(), ckpt)}: ${items.length} relation questions of ${n} (seed ${seed})`,
  );
  const diffs: number[] = [];
  const per = 32;
  for (let s = 0; s < items.length; s += per) {
    const chunk = items.slice(s, s + per);
    const x = rgbBatch(chunk.map(({ it }) => renderScene(it.scene, { width: 32 })));
    const z = await encodeRowsForText(
      'probe',
      vae,
      x,
      chunk.map((_, k) => s + k),
    );
    x.dispose();
    const read = await readAnswers(
      reader,
      z,
      chunk.map(({ it }) => readingOf(it.question, forms)),
      format,
    );
    z.dispose();
    for (const r of read) diffs.push(r!.scores[0] - Math.max(...r!.scores.slice(1)));
  }
  const groups = ['yes', 'converse', 'neither'];
  for (const tau of [-4, -2, -1, 0, 1, 2, 4, 8]) {
    const ok = items.map((x, i) => (diffs[i] > tau ? 'yes' : 'no') === x.it.answer);
    const acc = (g?: string) => {
      const v = ok.filter((_, i) => g === undefined || items[i].why === g);
      return `${(v.filter(Boolean).length / Math.max(1, v.length)).toFixed(3)} (${v.length})`;
    };
    console.log(`margin ${tau}: all ${acc()}  ${groups.map((g) => `${g} ${acc(g)}`).join('  ')}`);
  }
}

void main().then(() => process.exit(0));
