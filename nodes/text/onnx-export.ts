/**
 * ONNX export of the T5 encoder (t5.ts), built from the same Modules and weights.
 *
 *   input  ids    int64 [B, M]   (B and M dynamic)
 *   output hidden float32 [B, M, d_model]
 *
 * The relative-position bias is computed in the graph for any M: key − query offsets are clipped to
 * ±max_distance (every larger offset falls in the last bucket of its half) and looked up in a precomputed
 * bucket table, then in the bias weights.
 */
import { OnnxGraph } from '../../server/runtime/onnx-graph';
import { type EmitOptions, OnnxEmitter } from '../../server/runtime/nn/onnx';
import { relativePositionBucket, type T5Encoder } from './t5';

export interface T5ExportOptions extends EmitOptions {
  metadata?: Record<string, string>;
}

type BlockLike = T5Encoder['blocks'][number];

function activation(e: OnnxEmitter, x: string, kind: T5Encoder['config']['activation']): string {
  if (kind === 'relu') return e.g.op('Relu', [x]);
  if (kind === 'gelu_new') return e.geluTanh(x);
  return e.geluErf(x);
}

/** x [B, M, D] moved one position along M with a zero row in the gap (shiftTokens in t5.ts). */
function shiftTokens(e: OnnxEmitter, x: string, m: string, by: 1 | -1): string {
  const g = e.g;
  const kept =
    by === 1
      ? g.op('Slice', [x, g.ints([0]), g.ints([-1]), g.ints([1])])
      : g.op('Slice', [x, g.ints([1]), m, g.ints([1])]);
  return g.op('Pad', [kept, g.ints(by === 1 ? [0, 1, 0, 0, 0, 0] : [0, 0, 0, 0, 1, 0])]);
}

function block(e: OnnxEmitter, b: BlockLike, x: string, bias: string, m: string, enc: T5Encoder): string {
  const g = e.g;
  const c = enc.config;
  const a = b.attn;
  const n0 = e.rmsNorm(x, b.norm0);
  const att = e.attention(e.linear(n0, a.q), e.linear(n0, a.k), e.linear(n0, a.v), {
    heads: c.num_heads,
    width: c.num_heads * c.d_kv,
    scale: 1,
    bias,
  });
  let h = g.op('Add', [x, e.linear(att, a.o)]);
  if (b.shift) {
    const prev = e.linear(shiftTokens(e, n0, m, 1), b.shift.prev);
    h = g.op('Add', [h, g.op('Add', [prev, e.linear(shiftTokens(e, n0, m, -1), b.shift.next)])]);
  }
  const n1 = e.rmsNorm(h, b.norm1);
  const ff = b.ff;
  const inner = c.gated
    ? g.op('Mul', [activation(e, e.linear(n1, ff.wi0!), c.activation), e.linear(n1, ff.wi1!)])
    : activation(e, e.linear(n1, ff.wi!), c.activation);
  return g.op('Add', [h, e.linear(inner, ff.wo)]);
}

export function buildT5Graph(enc: T5Encoder, opts: T5ExportOptions = {}): OnnxGraph {
  const c = enc.config;
  const g = new OnnxGraph('t5_encoder', opts.metadata);
  const e = new OnnxEmitter(g, enc, opts);
  const ids = g.input('ids', 'int64', ['B', 'M']);
  let h = g.op('Gather', [e.param(enc.embedTokens.weight), ids], { axis: 0 });
  if (enc.embedPositions) {
    // rows 0..M−1 of the learned position table, broadcast over the batch
    const rows = g.op('Slice', [e.param(enc.embedPositions.weight), g.ints([0]), g.dim(ids, 1), g.ints([0])]);
    h = g.op('Add', [h, rows]);
  }
  if (enc.blocks.length > 0) {
    const maxD = c.relative_attention_max_distance;
    const buckets = new Array<number>(2 * maxD + 1);
    for (let r = -maxD; r <= maxD; r++) {
      buckets[r + maxD] = relativePositionBucket(r, c.relative_attention_num_buckets, maxD);
    }
    const table = g.intTable('relative_buckets', buckets, [2 * maxD + 1]);
    const M = g.op('Squeeze', [g.dim(ids, 1), g.ints([0])]);
    const pos = g.op('Range', [g.ints([0], true), M, g.ints([1], true)]);
    // rel[i][j] = j − i (key minus query), clipped, shifted to a table index
    const rel = g.op('Sub', [g.unsqueeze(pos, [0]), g.unsqueeze(pos, [1])]);
    const idx = g.op('Add', [
      g.op('Clip', [rel, g.ints([-maxD], true), g.ints([maxD], true)]),
      g.ints([maxD], true),
    ]);
    const bucket = g.op('Gather', [table, idx], { axis: 0 });
    const relBias = enc.blocks[0].attn.relBias;
    if (!relBias) throw new Error('T5 ONNX export: block 0 has no relative attention bias');
    const perPair = g.op('Gather', [e.param(relBias), bucket], { axis: 0 }); // [M, M, H]
    const bias = g.unsqueeze(g.transpose(perPair, [2, 0, 1]), [0]); // [1, H, M, M]
    const m = g.dim(ids, 1);
    for (const b of enc.blocks) h = block(e, b, h, bias, m, enc);
  }
  g.output('hidden', 'float32', ['B', 'M', c.d_model], e.rmsNorm(h, enc.finalNorm));
  return g;
}
