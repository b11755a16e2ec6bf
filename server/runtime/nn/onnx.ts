/**
 * ONNX counterparts of the nn layers and ops (layers.ts, ops.ts, attention.ts): each emits into an OnnxGraph
 * the computation its tfjs twin runs, reading the weights of the same Parameter objects. Model exporters walk
 * their Module tree with these, so an exported graph follows the module definitions one to one.
 *
 * Layouts: token tensors are [B, L, D] as in tfjs; convolutions run NCHW (ONNX's layout), so conv stacks
 * transpose once at their edges. Weights: Linear [in, out] is already MatMul's orientation; Conv2d HWIO
 * becomes OIHW.
 */
import { MS_DOMAIN, type OnnxGraph } from '../onnx-graph';
import type { Conv2d, GroupNorm, Linear, RMSNorm } from './layers';
import type { Module, Parameter } from './module';

export interface EmitOptions {
  /**
   * Use onnxruntime's fused com.microsoft ops (FastGelu for GELU-tanh, MultiHeadAttention): the same
   * formulas in fewer, faster kernels on CPU and CUDA. false keeps the graph to standard opset-17 ops.
   */
  contribOps?: boolean;
}

/** Emits nn layers of one model (whose parameters it names by their dotted paths) into a graph. */
export class OnnxEmitter {
  private readonly names = new Map<Parameter, string>();
  private readonly emitted = new Map<string, string>();
  readonly contribOps: boolean;

  constructor(
    readonly g: OnnxGraph,
    root: Module,
    opts: EmitOptions = {},
  ) {
    for (const [name, p] of root.namedEntries()) this.names.set(p, name);
    this.contribOps = opts.contribOps ?? true;
  }

  /** The initializer of a parameter in tfjs orientation (emitted once). */
  param(p: Parameter): string {
    return this.cached(p, 'plain', () => p.value.dataSync() as Float32Array, p.shape);
  }

  /** A conv kernel HWIO [kh, kw, in, out] as ONNX's OIHW [out, in, kh, kw]. */
  convWeight(p: Parameter): string {
    const [kh, kw, ci, co] = p.shape;
    return this.cached(
      p,
      'oihw',
      () => {
        const src = p.value.dataSync() as Float32Array;
        const out = new Float32Array(src.length);
        for (let y = 0; y < kh; y++)
          for (let x = 0; x < kw; x++)
            for (let i = 0; i < ci; i++)
              for (let o = 0; o < co; o++)
                out[((o * ci + i) * kh + y) * kw + x] = src[((y * kw + x) * ci + i) * co + o];
        return out;
      },
      [co, ci, kh, kw],
    );
  }

  private cached(p: Parameter, form: string, data: () => Float32Array, dims: number[]): string {
    const name = this.names.get(p);
    if (name === undefined) throw new Error('ONNX export: a parameter outside the exported model');
    const key = `${name}|${form}`;
    let v = this.emitted.get(key);
    if (!v) {
      v = this.g.weight(form === 'plain' ? name : `${name}.${form}`, data(), dims);
      this.emitted.set(key, v);
    }
    return v;
  }

  /**
   * Several linears of the same input fused into one matmul: weights concatenated along the output axis
   * (a bias may be adjusted per output through `biasEdit`, e.g. to fold a constant into it).
   */
  fusedLinear(x: string, lins: Linear[], name: string, biasEdit?: (b: Float32Array) => void): string {
    const inF = lins[0].inFeatures;
    const outs = lins.map((l) => l.outFeatures);
    const total = outs.reduce((a, b) => a + b, 0);
    const w = new Float32Array(inF * total);
    const b = new Float32Array(total);
    let col = 0;
    for (const l of lins) {
      if (l.inFeatures !== inF) throw new Error('ONNX export: fused linears must share their input width');
      const src = l.weight.value.dataSync() as Float32Array;
      for (let i = 0; i < inF; i++)
        w.set(src.subarray(i * l.outFeatures, (i + 1) * l.outFeatures), i * total + col);
      if (l.bias) b.set(l.bias.value.dataSync() as Float32Array, col);
      col += l.outFeatures;
    }
    biasEdit?.(b);
    const y = this.g.op('MatMul', [x, this.g.weight(`${name}.weight`, w, [inF, total])]);
    return this.g.op('Add', [y, this.g.weight(`${name}.bias`, b, [total])]);
  }

  /** x [..., in] · W, without the bias (for ops that take the bias themselves, e.g. FastGelu). */
  matmul(x: string, lin: Linear): string {
    return this.g.op('MatMul', [x, this.param(lin.weight)]);
  }

  /** x [..., in] · W + b. */
  linear(x: string, lin: Linear): string {
    const y = this.g.op('MatMul', [x, this.param(lin.weight)]);
    return lin.bias ? this.g.op('Add', [y, this.param(lin.bias)]) : y;
  }

  /**
   * NCHW convolution with PyTorch's symmetric integer padding, or explicit ONNX pads [top, left, bottom, right].
   */
  conv(x: string, c: Conv2d, pads?: number[]): string {
    const k = c.kernelSize;
    const inputs = [x, this.convWeight(c.weight)];
    if (c.bias) inputs.push(this.param(c.bias));
    return this.g.op('Conv', inputs, {
      kernel_shape: [k, k],
      strides: [c.stride, c.stride],
      pads: pads ?? [c.padding, c.padding, c.padding, c.padding],
    });
  }

  /** GroupNorm on NCHW: instance-normalise [B, G, C/G·H·W], then the per-channel affine. */
  groupNorm(x: string, gn: GroupNorm): string {
    const g = this.g;
    const G = gn.groups;
    const grouped = g.reshape(x, [0, G, -1]);
    const normed = g.op('InstanceNormalization', [grouped, g.floatConst(1, [G]), g.floatConst(0, [G])], {
      epsilon: { float: gn.eps },
    });
    const back = g.op('Reshape', [normed, g.op('Shape', [x])]);
    const C = gn.channels;
    const scale = g.reshape(this.param(gn.weight), [C, 1, 1]);
    const shift = g.reshape(this.param(gn.bias), [C, 1, 1]);
    return g.op('Add', [g.op('Mul', [back, scale]), shift]);
  }

  /** T5's RMS norm over the last axis: x·rsqrt(mean(x²)+ε)·w. */
  rmsNorm(x: string, n: RMSNorm): string {
    const g = this.g;
    const ms = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
    const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [ms, g.floatConst(n.eps)])])]);
    return g.op('Mul', [g.op('Mul', [x, inv]), this.param(n.weight)]);
  }

  /** LayerNorm over the last axis of width `dim`, without affine (the D-DiT norm). */
  layerNorm(x: string, dim: number, eps = 1e-6): string {
    return this.g.op('LayerNormalization', [x, this.g.floatConst(1, [dim])], {
      axis: -1,
      epsilon: { float: eps },
    });
  }

  silu(x: string): string {
    return this.g.op('Mul', [x, this.g.op('Sigmoid', [x])]);
  }

  /** GELU with the tanh approximation (ops.ts geluTanh), of x + bias when a bias is given. */
  geluTanh(x: string, bias?: string): string {
    const g = this.g;
    if (this.contribOps) return g.op('FastGelu', bias ? [x, bias] : [x], {}, MS_DOMAIN);
    if (bias) x = g.op('Add', [x, bias]);
    const x3 = g.op('Mul', [g.op('Mul', [x, x]), x]);
    const u = g.op('Mul', [
      g.op('Add', [x, g.op('Mul', [x3, g.floatConst(0.044715)])]),
      g.floatConst(Math.sqrt(2 / Math.PI)),
    ]);
    const t = g.op('Add', [g.op('Tanh', [u]), g.floatConst(1)]);
    return g.op('Mul', [g.op('Mul', [x, t]), g.floatConst(0.5)]);
  }

  /** Exact GELU 0.5·x·(1 + erf(x/√2)). */
  geluErf(x: string): string {
    const g = this.g;
    const e = g.op('Erf', [g.op('Mul', [x, g.floatConst(Math.SQRT1_2)])]);
    return g.op('Mul', [g.op('Mul', [x, g.op('Add', [e, g.floatConst(1)])]), g.floatConst(0.5)]);
  }

  /**
   * softmax(q·kᵀ·scale + bias)·v over `heads` heads (attention.ts). q [B,Lq,D], k/v [B,Lk,D]; bias is a value
   * broadcastable to [B,H,Lq,Lk]. Returns [B,Lq,D].
   */
  attention(
    q: string,
    k: string,
    v: string,
    opts: { heads: number; width: number; scale?: number; bias?: string },
  ): string {
    const g = this.g;
    const H = opts.heads;
    const dh = opts.width / H;
    const scale = opts.scale ?? 1 / Math.sqrt(dh);
    if (this.contribOps) {
      // inputs: query, key, value, bias, key_padding_mask, attention_bias
      const inputs = opts.bias ? [q, k, v, '', '', opts.bias] : [q, k, v];
      return g.op('MultiHeadAttention', inputs, { num_heads: H, scale: { float: scale } }, MS_DOMAIN);
    }
    const qs = scale === 1 ? q : g.op('Mul', [q, g.floatConst(scale)]);
    const q4 = g.transpose(g.reshape(qs, [0, 0, H, dh]), [0, 2, 1, 3]);
    const kT = g.transpose(g.reshape(k, [0, 0, H, dh]), [0, 2, 3, 1]);
    const v4 = g.transpose(g.reshape(v, [0, 0, H, dh]), [0, 2, 1, 3]);
    let s = g.op('MatMul', [q4, kT]);
    if (opts.bias) s = g.op('Add', [s, opts.bias]);
    const o = g.op('MatMul', [g.op('Softmax', [s], { axis: -1 }), v4]);
    return g.reshape(g.transpose(o, [0, 2, 1, 3]), [0, 0, opts.width]);
  }

  /** AdaLN modulation x·(1+scale)+shift with shift/scale [B,1,D]. */
  modulate(x: string, shift: string, scale: string): string {
    const g = this.g;
    return g.op('Add', [g.op('Mul', [x, g.op('Add', [scale, g.floatConst(1)])]), shift]);
  }

  /** x·scalePlusOne + shift, where the modulation linear already added the 1 to its scale bias. */
  modulateFolded(x: string, shift: string, scalePlusOne: string): string {
    const g = this.g;
    return g.op('Add', [g.op('Mul', [x, scalePlusOne]), shift]);
  }
}
