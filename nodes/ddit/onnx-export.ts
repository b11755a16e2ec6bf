/**
 * ONNX export of the D-DiT transformer (model.ts), built from the same Modules and weights.
 *
 * Graph contract (all float32, NHWC like the tfjs model; B, h, w and M are dynamic):
 *   inputs   z [B, h, w, C]  (absent in the 'text-null' variant)   tau [B] (0–1000)   enc [B, M, d_enc]
 *   outputs  velocity [B, h, w, C_out]  (variants 'both', 'image')
 *            logits   [B, M, V]         (variants 'both', 'text', 'text-null'; raw, mask column included)
 * Variants mirror forward()'s head options: a skipped head also skips the last block's work for its stream;
 * 'text-null' replaces the image tokens by the null image tokens (z = null in tfjs).
 */
import { OnnxGraph } from '../../server/runtime/onnx-graph';
import { type EmitOptions, OnnxEmitter } from '../../server/runtime/nn/onnx';
import type { DDiT, JointBlock } from './model';

export type DDiTVariant = 'both' | 'image' | 'text' | 'text-null';

export const DDIT_VARIANTS: readonly DDiTVariant[] = ['both', 'image', 'text', 'text-null'];

export interface DDiTExportOptions extends EmitOptions {
  variant?: DDiTVariant;
  metadata?: Record<string, string>;
}

/** Splits a [B, k·D] modulation into k values of shape [B, 1, D] (broadcast over tokens). */
function chunks(e: OnnxEmitter, m: string, k: number, D: number): string[] {
  const g = e.g;
  return g.opMulti('Split', [g.unsqueeze(m, [1]), g.ints(new Array(k).fill(D))], k, { axis: 2 });
}

/** Adds 1 to the bias of the scale chunks (indices `which`) of a k·D modulation, so x·(1+scale) is one Mul. */
function plusOne(D: number, which: number[]): (b: Float32Array) => void {
  return (b) => {
    for (const c of which) for (let i = 0; i < D; i++) b[c * D + i] += 1;
  };
}

/** FF: Linear(D→4D) → GELU-tanh (bias fused into it) → Linear(4D→D). */
function feedForward(e: OnnxEmitter, ff: JointBlock['ff'], h: string): string {
  const bias = ff.proj.bias ? e.param(ff.proj.bias) : undefined;
  return e.linear(e.geluTanh(e.matmul(h, ff.proj), bias), ff.out);
}

function jointBlock(
  e: OnnxEmitter,
  blk: JointBlock,
  name: string,
  x: string,
  c: string,
  sy: string,
  keepX: boolean,
  keepC: boolean,
): [string, string] {
  const g = e.g;
  const D = blk.width;
  // modulation chunks: shift1, scale1 (+1), gate1, shift2, scale2 (+1), gate2
  const fold = plusOne(D, [1, 4]);
  const mx = chunks(e, e.fusedLinear(sy, [blk.norm1], `${name}.norm1.linear`, fold), 6, D);
  const mc = chunks(e, e.fusedLinear(sy, [blk.norm1Context], `${name}.norm1_context.linear`, fold), 6, D);
  const xn = e.modulateFolded(e.layerNorm(x, D), mx[0], mx[1]);
  const cn = e.modulateFolded(e.layerNorm(c, D), mc[0], mc[1]);
  const a = blk.attn;
  // q, k, v of both streams from one matmul per stream, image tokens first
  const qkv = g.op(
    'Concat',
    [
      e.fusedLinear(xn, [a.toQ, a.toK, a.toV], `${name}.attn.qkv`),
      e.fusedLinear(cn, [a.addQ, a.addK, a.addV], `${name}.attn.add_qkv`),
    ],
    { axis: 1 },
  );
  const [q, k, v] = g.opMulti('Split', [qkv, g.ints([D, D, D])], 3, { axis: 2 });
  const o = e.attention(q, k, v, { heads: blk.heads, width: D });
  const N = g.dim(x, 1);
  let xo = x;
  let co = c;
  if (keepX) {
    const ox = e.linear(g.op('Slice', [o, g.ints([0]), N, g.ints([1])]), a.toOut);
    xo = g.op('Add', [x, g.op('Mul', [mx[2], ox])]);
    const h = e.modulateFolded(e.layerNorm(xo, D), mx[3], mx[4]);
    xo = g.op('Add', [xo, g.op('Mul', [mx[5], feedForward(e, blk.ff, h)])]);
  }
  if (keepC) {
    const oc = e.linear(g.op('Slice', [o, N, g.ints([Number.MAX_SAFE_INTEGER]), g.ints([1])]), a.toAddOut);
    co = g.op('Add', [c, g.op('Mul', [mc[2], oc])]);
    const h = e.modulateFolded(e.layerNorm(co, D), mc[3], mc[4]);
    co = g.op('Add', [co, g.op('Mul', [mc[5], feedForward(e, blk.ffContext, h)])]);
  }
  return [xo, co];
}

/** Builds the graph of one variant (see the file comment). */
export function buildDDiTGraph(model: DDiT, opts: DDiTExportOptions = {}): OnnxGraph {
  const variant = opts.variant ?? 'both';
  const cfg = model.config;
  const D = cfg.width;
  const p = cfg.patch_size;
  const C = cfg.in_channels;
  const Cout = cfg.out_channels;
  const G = cfg.pos_embed_max_size;
  const g = new OnnxGraph(`ddit_${variant}`, opts.metadata);
  const e = new OnnxEmitter(g, model, opts);
  const wantImage = variant === 'both' || variant === 'image';
  const wantText = variant !== 'image';
  const nullImage = variant === 'text-null';
  if (nullImage && !model.nullImageEmbd) {
    throw new Error('D-DiT ONNX export: the text-null variant needs null_image_tokens in the config');
  }

  const z = nullImage ? null : g.input('z', 'float32', ['B', 'h', 'w', C]);
  const tau = g.input('tau', 'float32', ['B']);
  const enc = g.input('enc', 'float32', ['B', 'M', cfg.joint_attention_dim]);

  // y = MLP(e(τ)), e = [cos(τ f), sin(τ f)] with f_k = exp(−ln(10⁴)·k/128)
  const half = 128;
  const freqs = new Float32Array(half);
  for (let k = 0; k < half; k++) freqs[k] = Math.exp((-Math.log(10000) * k) / half);
  const args = g.op('Mul', [g.unsqueeze(tau, [1]), g.weight('timestep_freqs', freqs, [1, half])]);
  const temb = g.op('Concat', [g.op('Cos', [args]), g.op('Sin', [args])], { axis: 1 });
  const te = model.timeEmbedder;
  let y = e.linear(e.silu(e.linear(temb, te.linear1)), te.linear2);
  const tx = model.textEmbedder;
  if (tx) {
    const pooled = g.op('ReduceMean', [enc], { axes: [1], keepdims: 0 });
    y = g.op('Add', [y, e.linear(e.silu(e.linear(pooled, tx.linear1)), tx.linear2)]);
  }
  const sy = e.silu(y);

  let x: string;
  let gh = '';
  let gw = '';
  if (z) {
    const bias = e.param(model.patchBias);
    let tokens: string;
    if (p === 1) {
      // a 1×1 patch conv is a matmul over channels
      const w = g.reshape(e.param(model.patchWeight), [C, D]);
      tokens = g.reshape(g.op('Add', [g.op('MatMul', [z, w]), bias]), [0, -1, D]);
    } else {
      const conv = g.op('Conv', [g.transpose(z, [0, 3, 1, 2]), e.convWeight(model.patchWeight), bias], {
        kernel_shape: [p, p],
        strides: [p, p],
      });
      tokens = g.transpose(g.reshape(conv, [0, D, -1]), [0, 2, 1]);
    }
    // centre crop of the G×G position table for the gh×gw patch grid
    const pInt = g.ints([p]);
    gh = g.op('Div', [g.dim(z, 1), pInt]);
    gw = g.op('Div', [g.dim(z, 2), pInt]);
    const Gi = g.ints([G]);
    const two = g.ints([2]);
    const top = g.op('Div', [g.op('Sub', [Gi, gh]), two]);
    const left = g.op('Div', [g.op('Sub', [Gi, gw]), two]);
    const table = g.reshape(e.param(model.posTable), [G, G, D]);
    const crop = g.op('Slice', [
      table,
      g.op('Concat', [top, left], { axis: 0 }),
      g.op('Concat', [g.op('Add', [top, gh]), g.op('Add', [left, gw])], { axis: 0 }),
      g.ints([0, 1]),
    ]);
    x = g.op('Add', [tokens, g.reshape(crop, [-1, D])]);
  } else {
    const B = g.dim(enc, 0);
    x = g.op('Tile', [e.param(model.nullImageEmbd!), g.shapeOf([B, 1, 1])]);
  }

  let c = e.linear(enc, model.contextEmbedder);
  const last = model.blocks.length - 1;
  model.blocks.forEach((blk, i) => {
    [x, c] = jointBlock(
      e,
      blk,
      `transformer_blocks.${i}`,
      x,
      c,
      sy,
      i < last || wantImage,
      i < last || wantText,
    );
  });

  if (wantImage && z) {
    // (scale (+1), shift): scale first here
    const mod = e.fusedLinear(sy, [model.imageNormOut], 'image_norm_out.linear', plusOne(D, [0]));
    const [scale, shift] = chunks(e, mod, 2, D);
    const out = e.linear(e.modulateFolded(e.layerNorm(x, D), shift, scale), model.imageProjOut);
    const B = g.dim(z, 0);
    let velocity: string;
    if (p === 1) {
      velocity = g.reshape(out, [g.shape(z, 0, 3), Cout]);
    } else {
      const cells = g.reshape(out, [B, gh, gw, p, p, Cout]);
      velocity = g.reshape(g.transpose(cells, [0, 1, 3, 2, 4, 5]), [g.shape(z, 0, 3), Cout]);
    }
    g.output('velocity', 'float32', ['B', 'h', 'w', Cout], velocity);
  }
  if (wantText) {
    g.output('logits', 'float32', ['B', 'M', cfg.vocab_size], e.linear(e.layerNorm(c, D), model.textProjOut));
  }
  return g;
}
