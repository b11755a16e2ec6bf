/**
 * Writes models/tokenizer.json (and tokenizer_config.json) from the generator's vocabulary.
 * Run: npx tsx nodes/data/shapes/build-tokenizer.ts [out-dir]
 */
import fs from 'node:fs';
import path from 'node:path';
import { buildTokenizerConfig, buildTokenizerJson } from './tokenizer';
import { captionInstruction, sampleInstruction } from './instructions';
import { Rng } from './random';
import { sampleScene } from './sampler';
import { sampleCaption } from './captions';
import { splitWords } from './words';

export interface TokenizerStats {
  vocabSize: number;
  /** Longest caption in tokens, with its </s>. */
  maxCaptionTokens: number;
  /** Longest instruction sequence (prompt + answer + </s>) in tokens. */
  maxInstructionTokens: number;
}

/** Longest token sequences over many sampled scenes, to size the text positions of a model. */
export function measureLengths(scenes = 3000): Omit<TokenizerStats, 'vocabSize'> {
  const rng = new Rng(1, 'shapes-lengths');
  let maxCaptionTokens = 0;
  let maxInstructionTokens = 0;
  const len = (t: string): number => splitWords(t).length;
  for (let i = 0; i < scenes; i++) {
    const { scene } = sampleScene(rng);
    maxCaptionTokens = Math.max(maxCaptionTokens, len(sampleCaption(rng, scene).text) + 1);
    for (const ins of [captionInstruction(scene), sampleInstruction(rng, scene, 0)]) {
      maxInstructionTokens = Math.max(maxInstructionTokens, len(ins.prompt) + len(ins.answer) + 1);
    }
  }
  return { maxCaptionTokens, maxInstructionTokens };
}

export function writeTokenizer(outDir: string): TokenizerStats {
  const tok = buildTokenizerJson();
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'tokenizer.json'), `${JSON.stringify(tok, null, 2)}\n`);
  fs.writeFileSync(
    path.join(outDir, 'tokenizer_config.json'),
    `${JSON.stringify(buildTokenizerConfig(), null, 2)}\n`,
  );
  return { vocabSize: Object.keys(tok.model.vocab).length, ...measureLengths() };
}

if (require.main === module) {
  const outDir = path.resolve(process.argv[2] ?? path.join(__dirname, '../../../models'));
  const s = writeTokenizer(outDir);
  console.log(
    `wrote ${path.join(outDir, 'tokenizer.json')}: ${s.vocabSize} tokens; longest caption ${s.maxCaptionTokens} ` +
      `tokens, longest instruction (prompt + answer + </s>) ${s.maxInstructionTokens} tokens`,
  );
}
