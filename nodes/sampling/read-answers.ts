/**
 * Answering by reading instead of sampling: where a reader restates a question as captions, one per possible
 * answer ("is the circle left of the square?" → "a · · · circle left of a · · · square" for yes, the objects
 * swapped for no), the answer is the one whose caption in-fills the text head finds likeliest for the image.
 * One masked forward per in-fill, no sampling; questions the reader cannot restate are left to the sampler.
 */
import type { tf } from '../../server/runtime/tf';
import { infillRow, readRows, type CaptionFormat, type CheckInfill, type TextReader } from './infill-reading';

export interface AnswerOption {
  answer: string;
  infills: readonly CheckInfill[];
}

export interface ReadAnswer {
  answer: string;
  /** Each option's summed log-probability, in the reading's order. */
  scores: number[];
}

/**
 * Per image of z [N,h,w,C]: the best-scoring option of its reading (the first on ties), or undefined where it
 * has none.
 */
export async function readAnswers(
  reader: TextReader & { who: string },
  z: tf.Tensor4D,
  readings: readonly (readonly AnswerOption[] | undefined)[],
  format: CaptionFormat,
): Promise<(ReadAnswer | undefined)[]> {
  const { tokenizer: tok, who } = reader;
  if (readings.length !== z.shape[0])
    throw new Error(`${who}: ${z.shape[0]} images and ${readings.length} readings`);
  const rows = readings.flatMap((options, image) =>
    (options ?? []).flatMap((o, option) =>
      o.infills.map((f) => ({ ...infillRow(f, format, tok, who), image, option })),
    ),
  );
  const logp = rows.length > 0 ? await readRows(reader, z, rows, format.captionLength) : new Float64Array();
  const scores = readings.map((options) => new Array<number>(options?.length ?? 0).fill(0));
  rows.forEach((r, i) => (scores[r.image][r.option] += logp[i]));
  return readings.map((options, image) => {
    if (!options || options.length === 0) return undefined;
    const s = scores[image];
    let best = 0;
    for (let k = 1; k < s.length; k++) if (s[k] > s[best]) best = k;
    return { answer: options[best].answer, scores: s };
  });
}
