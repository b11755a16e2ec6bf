/** Shared set-up for training tests: a handful of rendered image–caption pairs and tiny real models. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PNG } from 'pngjs';
import { BatchCursor } from '../../../nodes/training/batches';
import { loadImageTextDataset, type TrainingDataset } from '../../../nodes/training/datasets';
import { FlowMatchingTerm, MaskedDiffusionTerm, type Objective } from '../../../nodes/training/objective';
import type { TinyModels } from '../../helpers/tiny-ddit';

export const PAIRS: Array<{
  caption: string;
  draw: (x: number, y: number, s: number) => [number, number, number];
}> = [
  {
    caption: 'a red circle',
    draw: (x, y, s) => (Math.hypot(x - s / 2 + 0.5, y - s / 2 + 0.5) < s / 3 ? [255, 0, 0] : [0, 0, 0]),
  },
  {
    caption: 'a blue square',
    draw: (x, y, s) =>
      Math.abs(x - s / 2 + 0.5) < s / 3 && Math.abs(y - s / 2 + 0.5) < s / 3 ? [0, 0, 255] : [0, 0, 0],
  },
  {
    caption: 'a green triangle',
    draw: (x, y, s) => (y > s / 4 && Math.abs(x - s / 2 + 0.5) < (y - s / 4) / 1.5 ? [0, 255, 0] : [0, 0, 0]),
  },
  {
    caption: 'a yellow circle',
    draw: (x, y, s) => (Math.hypot(x - s / 4, y - s / 2) < s / 5 ? [255, 255, 0] : [0, 0, 0]),
  },
];

/** Writes the pairs as PNG + .txt files into a fresh folder and returns it. */
export function writePairs(size: number, count = PAIRS.length): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-pairs-'));
  PAIRS.slice(0, count).forEach((p, i) => {
    const png = new PNG({ width: size, height: size });
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const [r, g, b] = p.draw(x, y, size);
        png.data.set([r, g, b, 255], (y * size + x) * 4);
      }
    }
    const stem = path.join(dir, `pair${i}`);
    fs.writeFileSync(`${stem}.png`, PNG.sync.write(png));
    fs.writeFileSync(`${stem}.txt`, p.caption);
  });
  return dir;
}

export interface ObjectiveSetup {
  dataset: TrainingDataset;
  objective: Objective;
  cursors: BatchCursor[];
}

/** L_img + λ·L_txt over two independently shuffled streams of the same pairs. */
export function dualObjective(
  m: TinyModels,
  dataDir: string,
  opts: { batch?: number; textLength?: number; lambda?: number; cfgDropout?: number } = {},
): ObjectiveSetup {
  const dataset = loadImageTextDataset(dataDir, m.imageSize);
  const batch = opts.batch ?? 2;
  const a = new BatchCursor(dataset, batch, 1, true);
  const b = new BatchCursor(dataset, batch, 2, true);
  const textLength = opts.textLength ?? 8;
  const img = new FlowMatchingTerm(m.vae, m.tokenizer, a, {
    textLength,
    cfgDropout: opts.cfgDropout ?? 0.1,
    sigmaMean: 0,
    sigmaStd: 1,
  });
  const txt = new MaskedDiffusionTerm(m.vae, m.tokenizer, b, {
    textLength,
    promptFormat: 'Q: {question} A: ',
    timeEps: 1e-3,
  });
  return {
    dataset,
    cursors: [a, b],
    objective: {
      terms: [
        { term: img, weight: 1 },
        { term: txt, weight: opts.lambda ?? 0.2 },
      ],
    },
  };
}
