/**
 * Builds tiny ONNX models in memory with onnx-proto, for tests that need a model "given as .onnx".
 *
 * tinyVaeDecoderOnnx: a pixel-shuffle "VAE decoder" meeting VAE_DECODER_CONTRACT (server/runtime/onnx.ts):
 *   latent [B,h,w,C] → MatMul W [C, 3·f²] + b → DepthToSpace(f) → sigmoid → image [B, h·f, w·f, 3] in [0,1],
 * with B, h, w dynamic. `reference` computes the same thing in tfjs.
 */
import { onnx } from 'onnx-proto';
import { tf } from '../../server/runtime/tf';

const FLOAT = onnx.TensorProto.DataType.FLOAT;

export type Dim = number | string;

export function valueInfo(name: string, dims: Dim[], elemType: number = FLOAT): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export function floatInit(name: string, dims: number[], values: Float32Array): onnx.ITensorProto {
  return {
    name,
    dims,
    dataType: FLOAT,
    rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
  };
}

export function intsAttr(name: string, ints: number[]): onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INTS, ints };
}

export function intAttr(name: string, i: number): onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i };
}

export function stringAttr(name: string, s: string): onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(s) };
}

/** Encodes a graph as an opset-13 model. */
export function encodeModel(graph: onnx.IGraphProto, opset = 13): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'ddit-studio tests',
    opsetImport: [{ domain: '', version: opset }],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

function seeded(n: number, seed: number, scale: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

export interface TinyDecoder {
  bytes: Uint8Array;
  latentChannels: number;
  factor: number;
  weight: Float32Array;
  bias: Float32Array;
  /** The same decoder in tfjs. */
  reference(latent: tf.Tensor4D): tf.Tensor4D;
}

export function tinyVaeDecoderOnnx(
  opts: {
    latentChannels?: number;
    factor?: number;
    seed?: number;
    inputName?: string;
    outputName?: string;
  } = {},
): TinyDecoder {
  const C = opts.latentChannels ?? 4;
  const f = opts.factor ?? 2;
  const out = 3 * f * f;
  const weight = seeded(C * out, opts.seed ?? 1, 0.8);
  const bias = seeded(out, (opts.seed ?? 1) + 7, 0.2);
  const input = opts.inputName ?? 'latent';
  const output = opts.outputName ?? 'image';
  const graph: onnx.IGraphProto = {
    name: 'tiny_vae_decoder',
    input: [valueInfo(input, ['B', 'h', 'w', C])],
    output: [valueInfo(output, ['B', 'H', 'W', 3])],
    initializer: [floatInit('W', [C, out], weight), floatInit('b', [out], bias)],
    node: [
      { opType: 'MatMul', input: [input, 'W'], output: ['proj'] },
      { opType: 'Add', input: ['proj', 'b'], output: ['biased'] },
      {
        opType: 'Transpose',
        input: ['biased'],
        output: ['nchw'],
        attribute: [intsAttr('perm', [0, 3, 1, 2])],
      },
      {
        opType: 'DepthToSpace',
        input: ['nchw'],
        output: ['up'],
        attribute: [intAttr('blocksize', f), stringAttr('mode', 'DCR')],
      },
      { opType: 'Transpose', input: ['up'], output: ['nhwc'], attribute: [intsAttr('perm', [0, 2, 3, 1])] },
      { opType: 'Sigmoid', input: ['nhwc'], output: [output] },
    ],
  };
  return {
    bytes: encodeModel(graph),
    latentChannels: C,
    factor: f,
    weight,
    bias,
    reference: (latent) =>
      tf.tidy(() => {
        const [B, h, w] = latent.shape;
        const proj = tf.add(
          tf.matMul(tf.reshape(latent, [B * h * w, C]), tf.tensor2d(weight, [C, out])),
          bias,
        );
        return tf.sigmoid(tf.depthToSpace(tf.reshape(proj, [B, h, w, out]) as tf.Tensor4D, f, 'NHWC'));
      }),
  };
}
