/**
 * Loss terms as the training step uses them. A term owns its data stream and frozen helpers (VAE,
 * tokenizer); per micro-batch it first prepares everything that needs no gradient, drawing its random
 * numbers from the run's generator in a fixed order, then computes its loss inside the gradient scope
 * with the live (trained) models.
 */
import { tf } from '../../server/runtime/tf';
import { drawTrainingSigmas } from '../sampling/flow-schedule';
import type { TextEncoderLike, TokenizerLike, VaeLike } from '../sampling/interfaces';
import { drawAntitheticTimes, TRAIN_TIME_EPS } from '../sampling/masked-schedule';
import type { Rng } from '../sampling/random';
import type { BatchCursor } from './batches';
import { type DataItem, datasetTask } from './datasets';
import { applyCfgDropout, corruptTokens, flowMatchingLoss, maskedDiffusionLoss } from './losses';
import {
  captionBatch,
  captionIds,
  contentLengths,
  instructionBatch,
  SFT_PROMPT,
  type TokenBatch,
} from './sequences';
import { encodeSync, type TrainableDDiT } from './trainable';
import { hasMoments, samplePosterior } from './posterior-cache';

export interface LiveModels {
  model: TrainableDDiT;
  /** The text encoder in use: a live copy when its mask-token row trains, else the frozen one. */
  encoder: TextEncoderLike;
}

export interface PreparedTerm {
  /** Computes the term's loss (a scalar owned by the caller); called inside the gradient scope. */
  loss(live: LiveModels): tf.Scalar;
  samples: number;
  dispose(): void;
}

export interface LossTerm {
  /** Metric name: 'img' or 'txt'. */
  readonly key: string;
  readonly cursor: BatchCursor;
  prepare(rng: Rng, live: LiveModels): Promise<PreparedTerm>;
}

/** The LOSS socket value: weighted terms summed per micro-batch. */
export interface Objective {
  readonly terms: ReadonlyArray<{ term: LossTerm; weight: number }>;
}

function checkSameSize(items: DataItem[], who: string): void {
  const { width: w, height: h } = items[0];
  for (const it of items) {
    if (it.width !== w || it.height !== h || it.image.length !== h * w * 3) {
      throw new Error(
        `${who}: the images of one batch must share one size (${w}×${h}, got ${it.width}×${it.height})`,
      );
    }
  }
}

/** [B,H,W,3] pixels of a batch of items (all the same size). */
function imageBatch(items: DataItem[], who: string): tf.Tensor4D {
  checkSameSize(items, who);
  const { width: w, height: h } = items[0];
  const data = new Float32Array(items.length * h * w * 3);
  items.forEach((it, b) => data.set(it.image, b * h * w * 3));
  return tf.tensor4d(data, [items.length, h, w, 3]);
}

/** z₀ = a posterior sample of the frozen VAE (spec §2.2 step 1), seeded from the run's generator. */
async function encodeImages(vae: VaeLike, items: DataItem[], rng: Rng, who: string) {
  if (typeof vae.encode !== 'function') throw new Error(`${who}: input 'vae' cannot encode images`);
  const seed = rng.nextUint32();
  if (hasMoments(vae)) {
    checkSameSize(items, who);
    return samplePosterior(
      vae,
      items.map((it) => it.image),
      items[0].width,
      items[0].height,
      seed,
    );
  }
  const images = imageBatch(items, who);
  try {
    return await vae.encode(images, { mode: 'sample', seed });
  } finally {
    images.dispose();
  }
}

function idsTensor(b: TokenBatch): tf.Tensor2D {
  return tf.tensor2d(b.ids, [b.batch, b.length], 'int32');
}

export interface FlowTermOptions {
  textLength: number;
  cfgDropout: number;
  sigmaMean: number;
  sigmaStd: number;
}

/** L_img (spec §2.2) over image–caption batches. */
export class FlowMatchingTerm implements LossTerm {
  readonly key = 'img';
  private readonly nulls = new WeakMap<object, tf.Tensor3D>();

  constructor(
    readonly vae: VaeLike,
    readonly tokenizer: TokenizerLike,
    readonly cursor: BatchCursor,
    readonly opts: FlowTermOptions,
  ) {
    if (datasetTask(cursor.dataset) !== 'caption') {
      throw new Error(
        "FlowMatchingLoss: input 'batches' must come from a caption data set (image + caption)",
      );
    }
  }

  async prepare(rng: Rng): Promise<PreparedTerm> {
    const who = 'FlowMatchingLoss';
    const { items } = this.cursor.next();
    const b = items.length;
    const z0 = (await encodeImages(this.vae, items, rng, who)) as tf.Tensor4D;
    const drop = Array.from({ length: b }, () => rng.uniform() < this.opts.cfgDropout);
    const sigmas = drawTrainingSigmas(rng, b, this.opts.sigmaMean, this.opts.sigmaStd);
    const noise = tf.tensor(rng.normals(z0.size), z0.shape, 'float32') as tf.Tensor4D;
    const tokens = captionBatch(
      this.tokenizer,
      items.map((r) => r.caption ?? ''),
      this.opts.textLength,
    );
    const ids = idsTensor(tokens);
    const m = this.opts.textLength;
    const nullIds = tf.tensor2d(captionIds(this.tokenizer, ' ', m), [1, m], 'int32');
    return {
      samples: b,
      // Encoded inside the gradient scope: a trained text encoder learns from the image loss too.
      // E_null = Enc(tokenise(" ")) at the captions' M: EOS then EOS padding (spec §2.2 step 3).
      loss: (l) =>
        tf.tidy(() => {
          const enc = encodeSync(l.encoder, ids, who);
          const cond = drop.some(Boolean)
            ? applyCfgDropout(enc, encodeSync(l.encoder, nullIds, who), drop)
            : enc;
          return flowMatchingLoss(
            (z, tau, e) => {
              const out = l.model.forward(z, tau, e, { text: false });
              if (!out.velocity) throw new Error(`${who}: the model returned no velocity`);
              return out.velocity;
            },
            z0,
            noise,
            cond,
            sigmas,
          );
        }),
      dispose: () => tf.dispose([z0, noise, ids, nullIds]),
    };
  }
}

/** How L_txt is reduced: over all B·M positions (the spec), or per sequence by its content length. */
export const TEXT_LOSS_NORMALIZATIONS = ['positions', 'content'] as const;
export type TextLossNormalization = (typeof TEXT_LOSS_NORMALIZATIONS)[number];

export interface MaskedTermOptions {
  textLength: number;
  /** Default 'positions'. */
  normalize?: TextLossNormalization;
  promptFormat: string;
  /** Fixed, protected text before every caption ('' = the spec's plain captions). */
  captionPrompt?: string;
  timeEps: number;
}

export const MASKED_TERM_DEFAULTS: MaskedTermOptions = {
  textLength: 128,
  promptFormat: SFT_PROMPT,
  timeEps: TRAIN_TIME_EPS,
};

/**
 * L_txt (spec §2.3) over caption batches (every position maskable) or instruction batches (the prompt
 * is protected and not scored).
 */
export class MaskedDiffusionTerm implements LossTerm {
  readonly key = 'txt';

  constructor(
    readonly vae: VaeLike,
    readonly tokenizer: TokenizerLike,
    readonly cursor: BatchCursor,
    readonly opts: MaskedTermOptions,
  ) {}

  async prepare(rng: Rng): Promise<PreparedTerm> {
    const who = 'MaskedDiffusionLoss';
    const { items } = this.cursor.next();
    const m = this.opts.textLength;
    const tok = this.tokenizer;
    const instruction = datasetTask(this.cursor.dataset) === 'instruction';
    const tokens = instruction
      ? instructionBatch(tok, items, m, this.opts.promptFormat)
      : this.opts.captionPrompt
        ? instructionBatch(
            tok,
            items.map((r) => ({ prompt: this.opts.captionPrompt, answer: r.caption ?? '' })),
            m,
          )
        : captionBatch(
            tok,
            items.map((r) => r.caption ?? ''),
            m,
          );
    const z0 = (await encodeImages(this.vae, items, rng, who)) as tf.Tensor4D;
    const times = drawAntitheticTimes(rng, tokens.batch, this.opts.timeEps);
    const xt = corruptTokens(tokens.ids, tokens.condMask, times, m, tok.maskId, rng);
    const x0T = idsTensor(tokens);
    const xtT = tf.tensor2d(xt, [tokens.batch, m], 'int32');
    const perSequence = this.opts.normalize === 'content' ? contentLengths(tokens, tok.eosId) : undefined;
    const labelMask =
      instruction || this.opts.captionPrompt
        ? tf.tensor2d(Float32Array.from(tokens.condMask), [tokens.batch, m])
        : undefined;
    return {
      samples: tokens.batch,
      loss: (l) =>
        tf.tidy(() => {
          const enc = encodeSync(l.encoder, xtT, who);
          const out = l.model.forward(z0, 0, enc, { image: false });
          if (!out.logits) throw new Error(`${who}: the model returned no text logits`);
          return maskedDiffusionLoss(out.logits, x0T, xtT, times, tok.maskId, labelMask, perSequence);
        }),
      dispose: () => tf.dispose([z0, x0T, xtT, ...(labelMask ? [labelMask] : [])]),
    };
  }
}
