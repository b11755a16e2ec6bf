/**
 * Writes the public evaluation set workflows/eval/shapes-public.json (a fixed seed, so rerunning it
 * reproduces the committed file). Run: npx tsx nodes/eval/build-public-set.ts [out-file]
 */
import fs from 'node:fs';
import path from 'node:path';
import { validateEvalSet, type EvalSet } from './eval-set';
import { generateEvalSet } from './generate-eval-set';

export const PUBLIC_SET_SEED = 20261127;

export function publicEvalSet(): EvalSet {
  return generateEvalSet({ name: 'shapes-public', seed: PUBLIC_SET_SEED, t2i: 50, caption: 40, vqa: 60 });
}

if (require.main === module) {
  const out = path.resolve(
    process.argv[2] ?? path.join(__dirname, '../../workflows/eval/shapes-public.json'),
  );
  const set = validateEvalSet(publicEvalSet(), 'shapes-public');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify(set, null, 2)}\n`);
  console.log(
    `wrote ${out}: ${set.t2i.length} t2i, ${set.caption.length} caption, ${set.vqa.length} vqa items`,
  );
}
