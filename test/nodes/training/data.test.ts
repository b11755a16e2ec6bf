import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PNG } from 'pngjs';
import { BatchCursor } from '../../../nodes/training/batches';
import { loadImageTextDataset, loadInstructionDataset } from '../../../nodes/training/datasets';
import {
  readImageFile,
  resizeAndCenterCrop,
  resizeBicubic,
  type RgbImage,
} from '../../../nodes/training/images';
import {
  captionBatch,
  captionIds,
  contentLengths,
  instructionBatch,
  instructionIds,
} from '../../../nodes/training/sequences';
import type { TokenizerLike } from '../../../nodes/sampling/interfaces';

function writePng(
  file: string,
  w: number,
  h: number,
  pixel: (x: number, y: number) => [number, number, number],
): void {
  const png = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const [r, g, b] = pixel(x, y);
      const i = (y * w + x) * 4;
      png.data[i] = r;
      png.data[i + 1] = g;
      png.data[i + 2] = b;
      png.data[i + 3] = 255;
    }
  }
  fs.writeFileSync(file, PNG.sync.write(png));
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-data-'));
}

describe('image preprocessing (spec §4)', () => {
  it('keeps a constant image constant and stays in [0, 1]', () => {
    const img: RgbImage = { width: 7, height: 5, data: new Float32Array(105).fill(0.25) };
    const out = resizeBicubic(img, 3, 11);
    expect(out.data.length).toBe(99);
    for (const v of out.data) expect(v).toBeCloseTo(0.25, 6);
  });

  it('resizes the shorter side and crops the centre', () => {
    // 40×20: left quarter red, the middle half green, right quarter blue → the centre 20×20 crop is green
    const img: RgbImage = { width: 40, height: 20, data: new Float32Array(40 * 20 * 3) };
    for (let y = 0; y < 20; y++) {
      for (let x = 0; x < 40; x++) {
        const c = x < 10 ? 0 : x < 30 ? 1 : 2;
        img.data[(y * 40 + x) * 3 + c] = 1;
      }
    }
    const out = resizeAndCenterCrop(img, 10);
    expect(out.width).toBe(10);
    expect(out.height).toBe(10);
    for (let y = 0; y < 10; y++) {
      for (let x = 1; x < 9; x++) {
        const i = (y * 10 + x) * 3;
        expect(out.data[i + 1]).toBeGreaterThan(0.95);
        expect(out.data[i]).toBeLessThan(0.05);
        expect(out.data[i + 2]).toBeLessThan(0.05);
      }
    }
  });

  it('antialiases when shrinking (a fine checkerboard becomes grey)', () => {
    const img: RgbImage = { width: 32, height: 32, data: new Float32Array(32 * 32 * 3) };
    for (let y = 0; y < 32; y++)
      for (let x = 0; x < 32; x++) img.data.fill((x + y) % 2, (y * 32 + x) * 3, (y * 32 + x) * 3 + 3);
    const out = resizeBicubic(img, 4, 4);
    for (const v of out.data) expect(v).toBeCloseTo(0.5, 1);
  });

  it('reads PNG files as RGB in [0, 1] and refuses other formats', () => {
    const dir = tmpDir();
    writePng(path.join(dir, 'a.png'), 3, 2, (x) => [x * 100, 50, 255]);
    const img = readImageFile(path.join(dir, 'a.png'));
    expect([img.width, img.height]).toEqual([3, 2]);
    expect(Array.from(img.data.slice(3, 6)).map((v) => Math.round(v * 255))).toEqual([100, 50, 255]);
    fs.writeFileSync(path.join(dir, 'b.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0, 0, 0, 0]));
    expect(() => readImageFile(path.join(dir, 'b.jpg'))).toThrow(/only PNG/);
  });
});

describe('data sets', () => {
  it('reads a folder of images with .txt captions', () => {
    const dir = tmpDir();
    writePng(path.join(dir, 'b.png'), 8, 8, () => [255, 0, 0]);
    writePng(path.join(dir, 'a.png'), 8, 8, () => [0, 0, 255]);
    fs.writeFileSync(path.join(dir, 'a.txt'), 'a blue square\n');
    fs.writeFileSync(path.join(dir, 'b.txt'), 'a red square');
    const ds = loadImageTextDataset(dir, 4);
    expect(ds.records.map((r) => r.caption)).toEqual(['a blue square', 'a red square']);
    expect(ds.get(0).caption).toBe('a blue square');
    const px = ds.image(1);
    expect(px.length).toBe(48);
    expect(px[0]).toBeCloseTo(1, 5);
    expect(px[2]).toBeCloseTo(0, 5);
    fs.rmSync(path.join(dir, 'b.txt'));
    expect(() => loadImageTextDataset(dir, 4)).toThrow(/b.png has no caption/);
  });

  it('reads JSONL manifests with paths relative to the manifest', () => {
    const dir = tmpDir();
    fs.mkdirSync(path.join(dir, 'img'));
    writePng(path.join(dir, 'img', 'x.png'), 4, 4, () => [0, 255, 0]);
    fs.writeFileSync(
      path.join(dir, 'data.jsonl'),
      '{"image": "img/x.png", "caption": "green"}\n\n{"file_name": "img/x.png", "text": "also green"}\n',
    );
    const ds = loadImageTextDataset(path.join(dir, 'data.jsonl'), 4);
    expect(ds.records).toEqual([
      { image: path.join(dir, 'img', 'x.png'), caption: 'green' },
      { image: path.join(dir, 'img', 'x.png'), caption: 'also green' },
    ]);
    fs.writeFileSync(path.join(dir, 'bad.jsonl'), '{"image": "img/x.png"}\n');
    expect(() => loadImageTextDataset(path.join(dir, 'bad.jsonl'), 4)).toThrow(/record 0: missing 'caption'/);
  });

  it('reads instruction data, LLaVA first turns included', () => {
    const dir = tmpDir();
    const f = path.join(dir, 'sft.json');
    fs.writeFileSync(
      f,
      JSON.stringify([
        { image: 'a.png', question: 'what color?', answer: 'red' },
        {
          image: 'b.png',
          conversations: [
            { from: 'human', value: '<image>\nhow many?' },
            { from: 'gpt', value: 'two' },
            { from: 'human', value: 'ignored' },
          ],
        },
      ]),
    );
    const ds = loadInstructionDataset(f, 8, 'Answer briefly.');
    expect(ds.records.map((r) => [r.question, r.answer])).toEqual([
      ['what color? Answer briefly.', 'red'],
      ['how many? Answer briefly.', 'two'],
    ]);
  });
});

describe('batch cursor', () => {
  const dir = tmpDir();
  writePng(path.join(dir, 'p.png'), 2, 2, () => [0, 0, 0]);
  const manifest = path.join(dir, 'm.jsonl');
  fs.writeFileSync(
    manifest,
    Array.from({ length: 5 }, (_, i) => JSON.stringify({ image: 'p.png', caption: `c${i}` })).join('\n'),
  );
  const ds = loadImageTextDataset(manifest, 2);

  it('visits every record once per epoch and chains epochs without partial batches', () => {
    const c = new BatchCursor(ds, 2, 7, true);
    const seen = [
      ...c.next().indices,
      ...c.next().indices,
      ...c.next().indices,
      ...c.next().indices,
      ...c.next().indices,
    ];
    expect([...seen.slice(0, 5)].sort()).toEqual([0, 1, 2, 3, 4]);
    expect([...seen.slice(5, 10)].sort()).toEqual([0, 1, 2, 3, 4]);
    expect(seen.slice(0, 5)).not.toEqual(seen.slice(5, 10)); // a new shuffle each epoch
    expect(c.getState()).toEqual({ epoch: 2, position: 0 });
    const ordered = new BatchCursor(ds, 3, 0, false);
    expect(ordered.next().indices).toEqual([0, 1, 2]);
    expect(ordered.next().indices).toEqual([3, 4, 0]);
  });

  it('continues identically from a saved position', () => {
    const a = new BatchCursor(ds, 3, 11, true);
    for (let i = 0; i < 4; i++) a.next();
    const saved = a.getState();
    const rest = [a.next().indices, a.next().indices, a.next().indices];
    const b = new BatchCursor(ds, 3, 11, true);
    b.setState(saved);
    expect([b.next().indices, b.next().indices, b.next().indices]).toEqual(rest);
    expect(() => b.setState({ epoch: 0, position: 9 })).toThrow(/cannot restore/);
    expect(a.key).toBe(b.key);
    expect(new BatchCursor(ds, 3, 12, true).key).not.toBe(a.key);
  });
});

describe('training sequences (spec §4)', () => {
  // A word-level tokenizer over a fixed list, with T5's special ids.
  const words = ['<pad>', '</s>', '<unk>', 'q:', 'a:', 'what', 'color', 'red', 'circle', 'a', '<extra_id_0>'];
  const tok: TokenizerLike = {
    encode: (t) => [
      ...t
        .split(/\s+/)
        .filter(Boolean)
        .map((w) => Math.max(2, words.indexOf(w.toLowerCase()))),
      1,
    ],
    decode: (ids) => ids.map((i) => words[i]).join(' '),
    eosId: 1,
    padId: 1,
    maskId: 10,
  };

  it('pads captions with EOS and keeps the EOS when truncating', () => {
    expect(captionIds(tok, 'a red circle', 6)).toEqual([9, 7, 8, 1, 1, 1]);
    expect(captionIds(tok, 'a red circle', 3)).toEqual([9, 7, 1]);
  });

  it('builds instruction sequences with the prompt protected and its EOS dropped', () => {
    const { ids, condMask } = instructionIds(tok, 'what color', 'red', 8);
    expect(ids).toEqual([3, 5, 6, 4, 7, 1, 1, 1]);
    expect(condMask).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
  });

  it("counts each sequence's content: its scored tokens up to and including the first EOS", () => {
    // "red" + EOS after a protected 4-token prompt; a caption of 3 words + EOS; a caption cut to fit
    expect(contentLengths(instructionBatch(tok, [{ question: 'what color', answer: 'red' }], 8), 1)).toEqual([
      2,
    ]);
    expect(contentLengths(captionBatch(tok, ['a red circle', 'a red circle a red'], 5), 1)).toEqual([4, 5]);
    // an empty caption is its EOS alone
    expect(contentLengths(captionBatch(tok, [''], 4), 1)).toEqual([1]);
  });
});

describe('shapes data sets as DATASET', () => {
  it('batches ShapesDataset items with a fresh text draw per epoch and protects their prompts', () => {
    const { ShapesDataset } =
      require('../../../nodes/data/shapes/dataset') as typeof import('../../../nodes/data/shapes/dataset');
    const { TextTokenizer } =
      require('../../../nodes/text/tokenizer') as typeof import('../../../nodes/text/tokenizer');
    const { instructionBatch } =
      require('../../../nodes/training/sequences') as typeof import('../../../nodes/training/sequences');
    const tok = TextTokenizer.fromFile(path.resolve(__dirname, '../../../models/tokenizer.json'));
    const ds = new ShapesDataset({ seed: 3, size: 3, task: 'instruction', resolution: 32 });
    const c = new BatchCursor(ds, 3, 0, false);
    const e0 = c.next().items;
    const e1 = c.next().items;
    expect(e0.map((it) => it.width)).toEqual([32, 32, 32]);
    expect(e0.map((it) => Array.from(it.image))).toEqual(e1.map((it) => Array.from(it.image)));
    expect(c.key).toContain('instruction:');
    const b = instructionBatch(tok, e0, 24);
    e0.forEach((it, i) => {
      const prompt = tok.encode(it.prompt!, { eos: false });
      const row = Array.from(b.ids.slice(i * 24, (i + 1) * 24));
      expect(row.slice(0, prompt.length)).toEqual(prompt);
      expect(Array.from(b.condMask.slice(i * 24, i * 24 + prompt.length)).every((v) => v === 0)).toBe(true);
      expect(b.condMask[i * 24 + prompt.length]).toBe(1);
    });
  });
});
