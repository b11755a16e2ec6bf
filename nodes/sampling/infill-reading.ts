/**
 * Reading an image with the text head, without sampling: a token sequence with some positions masked is run
 * through one forward and the log-probabilities of chosen tokens at masked positions are read off. Self-check
 * scores candidates this way, and AnswerQuestion answers questions a reader restates as caption in-fills.
 */
import { tf } from '../../server/runtime/tf';
import type { DualModel, TextEncoderLike, TokenizerLike } from './interfaces';
import { textProbabilities } from './text-model';
import { parseTemplate } from './templates';

/**
 * A caption in the Caption node's answer slot with some words masked (null), and the words expected at some of
 * the masked ones (`at` indexes words): "a [·] [·] [·] left of a [·] [·] [·]" expecting "circle" at 3 and
 * "square" at 9 asks which object the model would name on the left, whatever sizes and colours it would give.
 */
export interface CheckInfill {
  words: readonly (string | null)[];
  expect: readonly { at: number; word: string }[];
}

/** One text-head row: a token sequence for one image and the tokens read at some of its masked positions. */
export interface ReadRow {
  image: number;
  ids: number[];
  reads: { pos: number; token: number }[];
}

export interface TextReader {
  model: DualModel;
  encoder: TextEncoderLike;
  tokenizer: TokenizerLike;
  /** Rows per text-head forward (default 64). */
  chunk?: number;
}

/** The first token of a word or phrase (the one read at a masked position). */
export function firstToken(tok: TokenizerLike, text: string, who: string): number {
  const ids = tok.encode(text).filter((id) => id !== tok.eosId);
  if (ids.length === 0) throw new Error(`${who}: the answer '${text}' has no tokens`);
  return ids[0];
}

/**
 * Σ log p(token) over each row's reads given the latent of its image (z [N,h,w,C]), rows of one length L
 * batched `chunk` at a time. Rows with the same image and tokens (a reading's options often read different
 * words from one in-fill) share one forward.
 */
export async function readRows(
  reader: TextReader,
  z: tf.Tensor4D,
  rows: readonly ReadRow[],
  L: number,
): Promise<Float64Array> {
  const logp = new Float64Array(rows.length);
  const unique: ReadRow[] = [];
  const readers: number[][] = [];
  const seen = new Map<string, number>();
  rows.forEach((r, i) => {
    const key = `${r.image}:${r.ids.join(',')}`;
    let u = seen.get(key);
    if (u === undefined) {
      seen.set(key, (u = unique.length));
      unique.push(r);
      readers.push([]);
    }
    readers[u].push(i);
  });
  const chunk = Math.max(1, reader.chunk ?? 64);
  for (let start = 0; start < unique.length; start += chunk) {
    const part = unique.slice(start, start + chunk);
    const x = new Int32Array(part.length * L);
    part.forEach((r, i) => x.set(r.ids, i * L));
    const idx = tf.tensor1d(
      part.map((r) => r.image),
      'int32',
    );
    const zr = tf.gather(z, idx) as tf.Tensor4D;
    idx.dispose();
    let p: Float32Array;
    try {
      p = await textProbabilities(
        reader.model,
        reader.encoder,
        zr,
        x,
        part.length,
        L,
        reader.tokenizer.maskId,
      );
    } finally {
      zr.dispose();
    }
    const V = p.length / (part.length * L);
    part.forEach((_, i) => {
      for (const row of readers[start + i])
        for (const { pos, token } of rows[row].reads)
          logp[row] += Math.log(Math.max(p[(i * L + pos) * V + token], 1e-9));
    });
  }
  return logp;
}

/** The caption format an in-fill is read in: the Caption node's prompt and token length. */
export interface CaptionFormat {
  captionPrompt: string;
  captionLength: number;
}

/** An in-fill as a row's token sequence (the caption prompt fixed before it) and the tokens it reads. */
export function infillRow(
  f: CheckInfill,
  format: CaptionFormat,
  tok: TokenizerLike,
  who: string,
): Omit<ReadRow, 'image'> {
  const text = f.words.map((w) => w ?? '[MASK]').join(' ');
  let t: ReturnType<typeof parseTemplate>;
  try {
    t = parseTemplate(`${format.captionPrompt} ${text} [EOS]`, format.captionLength, tok, who);
  } catch (e) {
    // the nodes that read in-fills (AnswerQuestion, SelfCheckSelect) take the length as caption_length
    const why = (e as Error).message.replace(`${who}: `, '');
    throw new Error(`${who}: input 'caption_length' does not fit the caption in-fill '${text}' (${why})`);
  }
  const masked = t.fixed.flatMap((fixed, pos) => (fixed ? [] : [pos]));
  const reads = f.expect.map(({ at, word }) => {
    if (f.words[at] !== null) throw new Error(`${who}: infill word ${at} of '${text}' is not masked`);
    const slot = f.words.slice(0, at).filter((w) => w === null).length;
    return { pos: masked[slot], token: firstToken(tok, word, who) };
  });
  return { ids: t.ids, reads };
}
