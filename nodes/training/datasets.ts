/**
 * Training data sets: image–caption pairs (pretraining, the image loss and captioning) and
 * image–question–answer triples (instruction tuning). Records are read eagerly (they are small);
 * images are decoded, resized and cropped on first use and then kept in memory.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { readImageFile, resizeAndCenterCrop } from './images';

export interface ImageTextRecord {
  image: string;
  caption: string;
}
export interface InstructionRecord {
  image: string;
  question: string;
  answer: string;
}
export type DatasetKind = 'image-text' | 'instruction';
export type RecordOf<K extends DatasetKind> = K extends 'image-text' ? ImageTextRecord : InstructionRecord;

/**
 * One training item as every DATASET hands it out (this pack's data sets and the shapes pack's
 * ShapesDataset): RGB pixels H×W×3 in [0, 1] plus either a caption or a question and its answer.
 * `prompt`, when given, is the instruction prompt itself (its answer follows it).
 */
export interface DataItem {
  image: Float32Array;
  width: number;
  height: number;
  caption?: string;
  question?: string;
  answer?: string;
  prompt?: string;
}

/** The DATASET socket: random access by index; `draw` may pick another text for the same image (per epoch). */
export interface DatasetLike {
  readonly size: number;
  readonly resolution: number;
  get(i: number, draw?: number): DataItem;
  /** 'caption' or 'instruction' (ShapesDataset); this pack's data sets say it through `kind`. */
  readonly task?: string;
  readonly kind?: string;
  readonly fingerprint?: string;
  readonly seed?: number;
}

export type DatasetTask = 'caption' | 'instruction';

export function datasetTask(ds: DatasetLike): DatasetTask {
  if (ds.kind === 'instruction' || ds.task === 'instruction') return 'instruction';
  return 'caption';
}

/** What identifies a data set's items, for checkpoints: its own fingerprint, or its defining settings. */
export function datasetKey(ds: DatasetLike): string {
  if (ds.fingerprint) return ds.fingerprint;
  return JSON.stringify({
    kind: ds.kind,
    task: ds.task,
    seed: ds.seed,
    size: ds.size,
    resolution: ds.resolution,
  });
}

export function isDataset(v: unknown): v is DatasetLike {
  const d = v as DatasetLike;
  return typeof v === 'object' && v !== null && typeof d.get === 'function' && Number.isInteger(d.size);
}

export class TrainingDataset<K extends DatasetKind = DatasetKind> implements DatasetLike {
  private readonly cache = new Map<number, Float32Array>();
  /** Identifies the records and preprocessing (checkpoints check it before restoring a data position). */
  readonly fingerprint: string;

  constructor(
    readonly kind: K,
    readonly records: RecordOf<K>[],
    readonly resolution: number,
    readonly source: string,
  ) {
    if (records.length === 0) throw new Error(`${source}: the data set is empty`);
    const h = crypto.createHash('sha256');
    h.update(`${kind}:${resolution}:`);
    for (const r of records) h.update(JSON.stringify(r));
    this.fingerprint = h.digest('hex').slice(0, 16);
  }

  get size(): number {
    return this.records.length;
  }

  get(i: number): DataItem {
    const r = this.resolution;
    return { ...this.records[i], image: this.image(i), width: r, height: r };
  }

  /** Pixels of record i: [R·R·3] RGB in [0, 1], resized and centre-cropped. */
  image(i: number): Float32Array {
    let px = this.cache.get(i);
    if (!px) {
      const file = this.records[i].image;
      try {
        px = resizeAndCenterCrop(readImageFile(file), this.resolution).data;
      } catch (e) {
        throw new Error(`${this.source}: record ${i} (${file}): ${(e as Error).message}`);
      }
      this.cache.set(i, px);
    }
    return px;
  }

  get byteSize(): number {
    let n = 0;
    for (const px of this.cache.values()) n += px.byteLength;
    return n + this.records.length * 128;
  }

  dispose(): void {
    this.cache.clear();
  }
}

const IMAGE_EXT = /\.png$/i;

/** One record per line (JSONL), or a JSON array of records. */
function readManifest(file: string): Record<string, unknown>[] {
  const text = fs.readFileSync(file, 'utf8');
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    const list = JSON.parse(trimmed) as unknown;
    if (!Array.isArray(list)) throw new Error(`${file}: expected a JSON array of records`);
    return list as Record<string, unknown>[];
  }
  return trimmed
    .split('\n')
    .map((line, i) => [line.trim(), i + 1] as const)
    .filter(([line]) => line.length > 0)
    .map(([line, n]) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`${file}:${n}: not valid JSON`);
      }
    });
}

function field(rec: Record<string, unknown>, names: string[], where: string): string {
  for (const n of names) if (typeof rec[n] === 'string') return rec[n] as string;
  throw new Error(`${where}: missing '${names[0]}'`);
}

function resolveImage(dir: string, p: string): string {
  return path.isAbsolute(p) ? p : path.join(dir, p);
}

/**
 * Image–caption pairs from a folder (each image.png with its caption in image.txt, or a
 * metadata.jsonl inside) or from a manifest (.jsonl / .json: {"image", "caption"}; "file_name"/"path"
 * and "text" are accepted too). Relative image paths are relative to the manifest.
 */
export function loadImageTextDataset(source: string, resolution: number): TrainingDataset<'image-text'> {
  if (!fs.existsSync(source)) throw new Error(`${source}: no such file or folder`);
  let manifest = source;
  if (fs.statSync(source).isDirectory()) {
    const inside = ['metadata.jsonl', 'metadata.json']
      .map((f) => path.join(source, f))
      .find((f) => fs.existsSync(f));
    if (inside) manifest = inside;
    else {
      const files = fs
        .readdirSync(source)
        .filter((f) => IMAGE_EXT.test(f))
        .sort();
      const records = files.map((f) => {
        const stem = path.join(source, f.replace(IMAGE_EXT, ''));
        const capFile = [`${stem}.txt`, `${stem}.caption`].find((c) => fs.existsSync(c));
        if (!capFile) throw new Error(`${source}: ${f} has no caption file (${path.basename(stem)}.txt)`);
        return { image: path.join(source, f), caption: fs.readFileSync(capFile, 'utf8').trim() };
      });
      return new TrainingDataset('image-text', records, resolution, source);
    }
  }
  const dir = path.dirname(manifest);
  const records = readManifest(manifest).map((r, i) => ({
    image: resolveImage(dir, field(r, ['image', 'file_name', 'path'], `${manifest} record ${i}`)),
    caption: field(r, ['caption', 'text'], `${manifest} record ${i}`).trim(),
  }));
  return new TrainingDataset('image-text', records, resolution, manifest);
}

interface Turn {
  from?: string;
  value?: string;
}

/**
 * Image–question–answer triples from a manifest (.jsonl / .json): {"image", "question", "answer"}, or
 * LLaVA conversations {"image", "conversations": [{"from": "human"}, {"from": "gpt"}]} of which the first
 * turn is used (the <image> placeholder is removed). `suffix` is appended to every question (the
 * short-answer sets' "Answer the question using a single word or phrase.").
 */
export function loadInstructionDataset(
  source: string,
  resolution: number,
  suffix = '',
): TrainingDataset<'instruction'> {
  if (!fs.existsSync(source) || fs.statSync(source).isDirectory()) {
    throw new Error(`${source}: expected a .jsonl or .json manifest file`);
  }
  const dir = path.dirname(source);
  const records = readManifest(source).map((r, i) => {
    const where = `${source} record ${i}`;
    let question: string;
    let answer: string;
    if (Array.isArray(r.conversations)) {
      const turns = r.conversations as Turn[];
      const human = turns.find((t) => t.from === 'human');
      const gpt = turns.find((t) => t.from === 'gpt');
      if (!human?.value || !gpt?.value)
        throw new Error(`${where}: the first turn needs a human and a gpt message`);
      question = human.value.replace(/<image>\n?/g, '').trim();
      answer = gpt.value.trim();
    } else {
      question = field(r, ['question'], where).trim();
      answer = field(r, ['answer'], where).trim();
    }
    if (suffix) question = `${question} ${suffix.trim()}`;
    return { image: resolveImage(dir, field(r, ['image', 'file_name', 'path'], where)), question, answer };
  });
  return new TrainingDataset('instruction', records, resolution, source);
}
