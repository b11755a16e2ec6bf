/**
 * Bidirectional T5 encoder stack (Hugging Face T5EncoderModel layout): token embedding, pre-norm blocks of
 * self-attention with a relative-position bias (computed once by block 0 and shared) and a feed-forward
 * (plain or gated, per config), RMS layer norms, a final norm. No causal mask and no attention mask: padding
 * tokens are ordinary tokens (spec §1.3, §4). Attention scores are not scaled by 1/√d_kv (T5 folds that into
 * its initialisation).
 *
 * Public interface:
 *   const enc = new T5Encoder(config).initialize(seed)     // or .loadState(hfStateMap)
 *   enc.encode(ids) → Tensor3D [B, M, d_model]             ids: Tensor2D int32 [B, M] or number[][]
 *   enc.config (ResolvedT5Config: d_model = the DiT's joint_attention_dim), enc.state()/loadState(),
 *   enc.embedTokens (the input embedding Module: `shared.weight`), numParams, byteSize, dispose()
 *   encode() runs in its own tf.tidy; forward(ids) is the same computation without it (differentiable).
 */
import { tf } from '../../server/runtime/tf';
import {
  attention,
  Embedding,
  geluTanh,
  Linear,
  Module,
  normal,
  type Parameter,
  RMSNorm,
} from '../../server/runtime/nn';

export interface T5Config {
  vocab_size: number;
  d_model: number;
  d_kv: number;
  d_ff: number;
  num_layers: number;
  num_heads: number;
  relative_attention_num_buckets?: number;
  relative_attention_max_distance?: number;
  layer_norm_epsilon?: number;
  /** 'relu' (T5 1.0), 'gated-gelu' (T5 v1.1, tanh GELU), 'gelu', 'gated-relu'. */
  feed_forward_proj?: string;
  /** Informational; an encoder has no decoder layers. */
  num_decoder_layers?: number;
  model_type?: string;
  /**
   * Not in T5 (0 or absent there): a learned absolute position table of this many rows added to the token
   * embeddings. Small encoders trained from scratch need it: with relative bias alone, runs of identical
   * mask tokens come out nearly identical, so the text head cannot tell answer slots from padding.
   */
  absolute_position_embeddings?: number;
  /**
   * Not in T5 (false or absent there): each block adds, beside its attention, learned linear maps of the
   * previous and the next token's normalised state (zero-initialised, so a model gains them without changing
   * what it computes). The shapes encoder left its relative bias at its initial values and could not tie a
   * colour to the shape word after it (models/README.md, session 9); this gives every word its neighbours.
   */
  token_shift?: boolean;
}

export interface ResolvedT5Config {
  vocab_size: number;
  d_model: number;
  d_kv: number;
  d_ff: number;
  num_layers: number;
  num_heads: number;
  relative_attention_num_buckets: number;
  relative_attention_max_distance: number;
  layer_norm_epsilon: number;
  feed_forward_proj: string;
  gated: boolean;
  activation: 'relu' | 'gelu_new' | 'gelu';
  absolute_position_embeddings: number;
  token_shift: boolean;
}

/** T5-v1.1-XXL encoder (the reference text encoder). */
export const T5_XXL_CONFIG: T5Config = {
  vocab_size: 32128,
  d_model: 4096,
  d_kv: 64,
  d_ff: 10240,
  num_layers: 24,
  num_heads: 64,
  relative_attention_num_buckets: 32,
  relative_attention_max_distance: 128,
  layer_norm_epsilon: 1e-6,
  feed_forward_proj: 'gated-gelu',
};

export function resolveT5Config(c: T5Config): ResolvedT5Config {
  for (const k of ['vocab_size', 'd_model', 'd_kv', 'd_ff', 'num_layers', 'num_heads'] as const) {
    if (!Number.isInteger(c[k]) || c[k] <= 0)
      throw new Error(`T5 config: '${k}' must be a positive integer, got ${c[k]}`);
  }
  const proj = c.feed_forward_proj ?? 'relu';
  const gated = proj.startsWith('gated-');
  const act = gated ? proj.slice(6) : proj;
  const activation =
    act === 'gelu'
      ? gated
        ? 'gelu_new'
        : 'gelu'
      : act === 'relu'
        ? 'relu'
        : act === 'gelu_new'
          ? 'gelu_new'
          : null;
  if (!activation) throw new Error(`T5 config: unsupported feed_forward_proj '${proj}'`);
  return {
    vocab_size: c.vocab_size,
    d_model: c.d_model,
    d_kv: c.d_kv,
    d_ff: c.d_ff,
    num_layers: c.num_layers,
    num_heads: c.num_heads,
    relative_attention_num_buckets: c.relative_attention_num_buckets ?? 32,
    relative_attention_max_distance: c.relative_attention_max_distance ?? 128,
    layer_norm_epsilon: c.layer_norm_epsilon ?? 1e-6,
    feed_forward_proj: proj,
    gated,
    activation,
    absolute_position_embeddings: positionRows(c.absolute_position_embeddings),
    token_shift: c.token_shift === true,
  };
}

function positionRows(v: number | undefined): number {
  if (v === undefined || v === null || v === 0) return 0;
  if (!Number.isInteger(v) || v < 0)
    throw new Error(`T5 config: 'absolute_position_embeddings' must be a non-negative integer, got ${v}`);
  return v;
}

/**
 * T5's bidirectional relative-position bucket for relative = key − query, computed in float32 as PyTorch does.
 * Half the buckets are for keys after the query; within a half, distances below n/2 are exact and the rest
 * are log-spaced up to maxDistance.
 */
export function relativePositionBucket(relative: number, numBuckets = 32, maxDistance = 128): number {
  const f = Math.fround;
  const n = Math.floor(numBuckets / 2);
  let ret = relative > 0 ? n : 0;
  const rel = Math.abs(relative);
  const maxExact = Math.floor(n / 2);
  if (rel < maxExact) return ret + rel;
  const ratio = f(Math.log(f(rel / maxExact)));
  const scale = f(Math.log(maxDistance / maxExact));
  const large = maxExact + Math.trunc(f(f(ratio / scale) * (n - maxExact)));
  ret += Math.min(large, n - 1);
  return ret;
}

/** Bucket indices [Lq·Lk] (row-major over query, key). */
export function relativeBuckets(lq: number, lk: number, numBuckets: number, maxDistance: number): Int32Array {
  const out = new Int32Array(lq * lk);
  for (let i = 0; i < lq; i++)
    for (let j = 0; j < lk; j++) out[i * lk + j] = relativePositionBucket(j - i, numBuckets, maxDistance);
  return out;
}

function act(x: tf.Tensor, kind: ResolvedT5Config['activation']): tf.Tensor {
  if (kind === 'relu') return tf.relu(x);
  if (kind === 'gelu_new') return geluTanh(x);
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
}

class SelfAttention extends Module {
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly o: Linear;
  readonly relBias: Parameter | null;
  constructor(
    private readonly c: ResolvedT5Config,
    hasBias: boolean,
  ) {
    super();
    const inner = c.num_heads * c.d_kv;
    const D = c.d_model;
    // HF's T5 initialisation: q ~ N(0, (D·d_kv)^−½), k, v ~ N(0, D^−½), o ~ N(0, inner^−½)
    this.q = this.module(
      'q',
      new Linear(D, inner, { bias: false, init: { normal: 1 / Math.sqrt(D * c.d_kv) } }),
    );
    this.k = this.module('k', new Linear(D, inner, { bias: false, init: { normal: 1 / Math.sqrt(D) } }));
    this.v = this.module('v', new Linear(D, inner, { bias: false, init: { normal: 1 / Math.sqrt(D) } }));
    this.o = this.module('o', new Linear(inner, D, { bias: false, init: { normal: 1 / Math.sqrt(inner) } }));
    const nb = c.relative_attention_num_buckets;
    this.relBias = hasBias
      ? this.param('relative_attention_bias.weight', {
          shape: [nb, c.num_heads],
          init: (seed, label) => normal([nb, c.num_heads], 1 / Math.sqrt(D), seed, label),
        })
      : null;
  }

  /** Position bias [H, L, L] for a length-L sequence (only block 0 owns the table). */
  positionBias(L: number): tf.Tensor3D {
    if (!this.relBias) throw new Error('T5: position bias requested from a block without the table');
    const c = this.c;
    const ids = tf.tensor1d(
      relativeBuckets(L, L, c.relative_attention_num_buckets, c.relative_attention_max_distance),
      'int32',
    );
    const rows = tf.gather(this.relBias.value, ids); // [L·L, H]
    return tf.reshape(tf.transpose(rows), [c.num_heads, L, L]) as tf.Tensor3D;
  }

  forward(x: tf.Tensor3D, bias: tf.Tensor3D): tf.Tensor3D {
    const q = this.q.forward(x) as tf.Tensor3D;
    const k = this.k.forward(x) as tf.Tensor3D;
    const v = this.v.forward(x) as tf.Tensor3D;
    return this.o.forward(attention(q, k, v, { heads: this.c.num_heads, scale: 1, bias })) as tf.Tensor3D;
  }
}

class FeedForward extends Module {
  readonly wi: Linear | null;
  readonly wi0: Linear | null;
  readonly wi1: Linear | null;
  readonly wo: Linear;
  constructor(private readonly c: ResolvedT5Config) {
    super();
    const D = c.d_model;
    const F = c.d_ff;
    const inInit = { normal: 1 / Math.sqrt(D) };
    if (c.gated) {
      this.wi = null;
      this.wi0 = this.module('wi_0', new Linear(D, F, { bias: false, init: inInit }));
      this.wi1 = this.module('wi_1', new Linear(D, F, { bias: false, init: inInit }));
    } else {
      this.wi = this.module('wi', new Linear(D, F, { bias: false, init: inInit }));
      this.wi0 = null;
      this.wi1 = null;
    }
    this.wo = this.module('wo', new Linear(F, D, { bias: false, init: { normal: 1 / Math.sqrt(F) } }));
  }
  forward(x: tf.Tensor): tf.Tensor {
    const h = this.c.gated
      ? tf.mul(act(this.wi0!.forward(x), this.c.activation), this.wi1!.forward(x))
      : act(this.wi!.forward(x), this.c.activation);
    return this.wo.forward(h);
  }
}

/**
 * x [B, M, D] moved one position along M, zeros filling the gap: `by` 1 gives each position its
 * predecessor's state, −1 its successor's.
 */
export function shiftTokens(x: tf.Tensor3D, by: 1 | -1): tf.Tensor3D {
  const [b, m, d] = x.shape;
  if (m === 1) return tf.zerosLike(x);
  const kept = tf.slice(x, [0, by === 1 ? 0 : 1, 0], [b, m - 1, d]);
  return tf.pad(kept, [[0, 0], by === 1 ? [1, 0] : [0, 1], [0, 0]]) as tf.Tensor3D;
}

/** The token-shift branch (T5Config.token_shift): W_prev·n_{i−1} + W_next·n_{i+1}. */
class TokenShift extends Module {
  readonly prev: Linear;
  readonly next: Linear;
  constructor(d: number) {
    super();
    this.prev = this.module('prev', new Linear(d, d, { bias: false, init: 'zeros' }));
    this.next = this.module('next', new Linear(d, d, { bias: false, init: 'zeros' }));
  }
  forward(n: tf.Tensor3D): tf.Tensor3D {
    return tf.add(this.prev.forward(shiftTokens(n, 1)), this.next.forward(shiftTokens(n, -1))) as tf.Tensor3D;
  }
}

class T5Block extends Module {
  readonly attn: SelfAttention;
  readonly norm0: RMSNorm;
  readonly shift: TokenShift | null;
  readonly ff: FeedForward;
  readonly norm1: RMSNorm;
  constructor(c: ResolvedT5Config, first: boolean) {
    super();
    this.attn = this.module('layer.0.SelfAttention', new SelfAttention(c, first));
    this.norm0 = this.module('layer.0.layer_norm', new RMSNorm(c.d_model, c.layer_norm_epsilon));
    this.shift = c.token_shift ? this.module('layer.0.TokenShift', new TokenShift(c.d_model)) : null;
    this.ff = this.module('layer.1.DenseReluDense', new FeedForward(c));
    this.norm1 = this.module('layer.1.layer_norm', new RMSNorm(c.d_model, c.layer_norm_epsilon));
  }
  forward(x: tf.Tensor3D, bias: tf.Tensor3D): tf.Tensor3D {
    const n0 = this.norm0.forward(x) as tf.Tensor3D;
    let h = tf.add(x, this.attn.forward(n0, bias)) as tf.Tensor3D;
    if (this.shift) h = tf.add(h, this.shift.forward(n0)) as tf.Tensor3D;
    return tf.add(h, this.ff.forward(this.norm1.forward(h))) as tf.Tensor3D;
  }
}

export class T5Encoder extends Module {
  readonly config: ResolvedT5Config;
  readonly embedTokens: Embedding;
  /** Learned absolute positions (absolute_position_embeddings > 0; not part of T5). */
  readonly embedPositions: Embedding | null;
  readonly blocks: T5Block[] = [];
  readonly finalNorm: RMSNorm;

  constructor(config: T5Config) {
    super();
    const c = resolveT5Config(config);
    this.config = c;
    this.embedTokens = this.module('shared', new Embedding(c.vocab_size, c.d_model, { std: 1 }));
    this.embedPositions = c.absolute_position_embeddings
      ? this.module('embed_positions', new Embedding(c.absolute_position_embeddings, c.d_model, { std: 1 }))
      : null;
    for (let i = 0; i < c.num_layers; i++)
      this.blocks.push(this.module(`encoder.block.${i}`, new T5Block(c, i === 0)));
    this.finalNorm = this.module('encoder.final_layer_norm', new RMSNorm(c.d_model, c.layer_norm_epsilon));
    // T5EncoderModel checkpoints may hold the tied embedding under this name as well (or only)
    this.aliases.set('encoder.embed_tokens.weight', 'shared.weight');
  }

  /** ids [B, M] → hidden states [B, M, d_model] (differentiable; no tidy). */
  forward(ids: tf.Tensor2D): tf.Tensor3D {
    const [, M] = ids.shape;
    let h = this.embedTokens.forward(ids) as tf.Tensor3D;
    if (this.embedPositions) {
      const P = this.config.absolute_position_embeddings;
      if (M > P) {
        throw new Error(`T5 encode: ${M} tokens exceed the encoder's ${P} learned positions`);
      }
      const pos = tf.slice(this.embedPositions.weight.value, [0, 0], [M, this.config.d_model]);
      h = tf.add(h, pos) as tf.Tensor3D;
    }
    const bias = this.blocks.length ? this.blocks[0].attn.positionBias(M) : null;
    for (const b of this.blocks) h = b.forward(h, bias!);
    return this.finalNorm.forward(h) as tf.Tensor3D;
  }

  encode(ids: tf.Tensor2D | number[][]): tf.Tensor3D {
    return tf.tidy(() => {
      const t = Array.isArray(ids)
        ? tf.tensor2d(ids, undefined, 'int32')
        : (tf.cast(ids, 'int32') as tf.Tensor2D);
      if (t.rank !== 2) throw new Error(`T5 encode: ids must be [B, M], got [${t.shape}]`);
      const max = tf.max(t).dataSync()[0];
      const min = tf.min(t).dataSync()[0];
      if (min < 0 || max >= this.config.vocab_size) {
        throw new Error(
          `T5 encode: token id ${min < 0 ? min : max} is outside the vocabulary (size ${this.config.vocab_size})`,
        );
      }
      return this.forward(t);
    });
  }
}
