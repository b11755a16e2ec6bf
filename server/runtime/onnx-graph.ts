/**
 * A small builder for ONNX graphs (opset 17 plus, optionally, onnxruntime's com.microsoft ops), encoded with
 * onnx-proto. The model exporters (nodes/ddit/onnx.ts, nodes/vae/onnx.ts, nodes/text/onnx.ts) walk their
 * tfjs Modules and emit the same computation through it, with the loaded weights as initializers.
 *
 *   const g = new OnnxGraph('ddit');
 *   const z = g.input('z', 'float32', ['B', 'h', 'w', 4]);
 *   const y = g.op('MatMul', [z, g.weight('w', w, [4, 8])]);
 *   g.output('velocity', 'float32', ['B', 'h', 'w', 8], y);
 *   const bytes = g.toBytes();               // or g.save(file) (large weights go to file + '.data')
 *
 * Values are named strings; op() returns the name of its (first) output, opMulti() all of them.
 * Shape arithmetic helpers (dim, ints) keep graphs dynamic in batch and spatial sizes.
 */
import * as fs from 'fs';
import * as path from 'path';
import { onnx } from 'onnx-proto';

export type ElemType = 'float32' | 'int64' | 'int32' | 'bool';
export type Dim = number | string;

const DATA_TYPE: Record<ElemType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  bool: onnx.TensorProto.DataType.BOOL,
};

/** An attribute value: integers become INT(S), other numbers FLOAT, {float} forces FLOAT(S). */
export type AttrValue = number | number[] | string | { float: number } | { floats: number[] };

/** Opset of the default domain every exported graph declares. */
export const ONNX_OPSET = 17;
/** onnxruntime's contrib-op domain (FastGelu and friends); only onnxruntime can run graphs that use it. */
export const MS_DOMAIN = 'com.microsoft';

/** Largest protobuf message: above this, weights must live in an external data file. */
const PROTO_LIMIT = 2 ** 31 - 1;

interface Initializer {
  name: string;
  type: ElemType;
  dims: number[];
  bytes: Uint8Array;
}

function attribute(name: string, v: AttrValue): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') {
    return Number.isInteger(v) ? { name, type: T.INT, i: v } : { name, type: T.FLOAT, f: v };
  }
  if (Array.isArray(v)) {
    if (!v.every((x) => Number.isInteger(x))) return { name, type: T.FLOATS, floats: v };
    return { name, type: T.INTS, ints: v };
  }
  if ('float' in v) return { name, type: T.FLOAT, f: v.float };
  return { name, type: T.FLOATS, floats: v.floats };
}

function valueInfo(name: string, type: ElemType, dims: Dim[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: DATA_TYPE[type],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function bytesOf(data: Float32Array | Int32Array | BigInt64Array | Uint8Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export interface SaveOptions {
  /** Put weights in `<file>.data` when the model is larger than this many bytes (default 1 GiB). */
  externalAbove?: number;
}

export class OnnxGraph {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly inits: Initializer[] = [];
  private readonly names = new Set<string>();
  private readonly constCache = new Map<string, string>();
  private counter = 0;
  private usesMs = false;

  constructor(
    readonly name: string,
    /** Written into the model's metadata_props (e.g. the weight hash and config). */
    readonly metadata: Record<string, string> = {},
  ) {}

  private fresh(base: string): string {
    let n = base;
    while (this.names.has(n)) n = `${base}_${++this.counter}`;
    this.names.add(n);
    return n;
  }

  /** Declares a graph input; free dimensions are strings (symbolic), fixed ones numbers. */
  input(name: string, type: ElemType, dims: Dim[]): string {
    if (this.names.has(name)) throw new Error(`ONNX graph ${this.name}: duplicate value name '${name}'`);
    this.names.add(name);
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** Declares `value` as the graph output `name` (adding an Identity when the names differ). */
  output(name: string, type: ElemType, dims: Dim[], value: string): void {
    if (value !== name) {
      if (this.names.has(name)) throw new Error(`ONNX graph ${this.name}: duplicate value name '${name}'`);
      this.names.add(name);
      this.nodes.push({ opType: 'Identity', input: [value], output: [name], name: `${name}_out` });
    }
    this.outputs.push(valueInfo(name, type, dims));
  }

  /**
   * A float32 initializer (weights); `name` is a readable base (e.g. the parameter's dotted name). The array
   * is kept, not copied: do not change it before the graph is encoded.
   */
  weight(name: string, data: Float32Array, dims: number[]): string {
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== data.length) {
      throw new Error(
        `ONNX graph ${this.name}: initializer '${name}' has ${data.length} values for [${dims}]`,
      );
    }
    const n = this.fresh(name);
    this.inits.push({ name: n, type: 'float32', dims: dims.slice(), bytes: bytesOf(data) });
    return n;
  }

  /** A shared float32 constant (deduplicated by value): scalars when dims = [], else a filled tensor. */
  floatConst(value: number, dims: number[] = []): string {
    const key = `f:${value}:${dims.join('x')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const size = dims.reduce((a, b) => a * b, 1);
    const n = this.fresh(`const_f${this.constCache.size}`);
    this.inits.push({ name: n, type: 'float32', dims, bytes: bytesOf(new Float32Array(size).fill(value)) });
    this.constCache.set(key, n);
    return n;
  }

  /** A shared int64 constant; a 1-D tensor unless `scalar`. */
  ints(values: number[], scalar = false): string {
    const key = `i:${scalar ? 's' : ''}${values.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    if (scalar && values.length !== 1) throw new Error('ints: a scalar needs exactly one value');
    const n = this.fresh(`const_i${this.constCache.size}`);
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    this.inits.push({ name: n, type: 'int64', dims: scalar ? [] : [values.length], bytes: bytesOf(data) });
    this.constCache.set(key, n);
    return n;
  }

  /** An int64 initializer holding a table (e.g. precomputed bucket ids). */
  intTable(name: string, values: ArrayLike<number>, dims: number[]): string {
    const n = this.fresh(name);
    const data = BigInt64Array.from(Array.from(values), (v) => BigInt(v));
    this.inits.push({ name: n, type: 'int64', dims: dims.slice(), bytes: bytesOf(data) });
    return n;
  }

  /** Adds a node and returns its single output. */
  op(type: string, inputs: string[], attrs: Record<string, AttrValue> = {}, domain = ''): string {
    return this.opMulti(type, inputs, 1, attrs, domain)[0];
  }

  /** Adds a node with `outputs` outputs and returns their names. */
  opMulti(
    type: string,
    inputs: string[],
    outputs: number,
    attrs: Record<string, AttrValue> = {},
    domain = '',
  ): string[] {
    const base = type.toLowerCase();
    const outs = Array.from({ length: outputs }, () => this.fresh(base));
    if (domain === MS_DOMAIN) this.usesMs = true;
    this.nodes.push({
      opType: type,
      domain: domain || undefined,
      name: outs[0],
      input: inputs,
      output: outs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outs;
  }

  // ---- shape helpers ------------------------------------------------------------------------------------------

  /** Dimensions [start, end) of x's shape as a 1-D int64 tensor. */
  shape(x: string, start: number, end?: number): string {
    const attrs: Record<string, AttrValue> = { start };
    if (end !== undefined) attrs.end = end;
    return this.op('Shape', [x], attrs);
  }

  /** Dimension i of x as a 1-element int64 tensor. */
  dim(x: string, i: number): string {
    return this.shape(x, i, i + 1);
  }

  /** Concatenates 1-D int64 pieces (value names, or literal numbers) into a shape tensor. */
  shapeOf(parts: Array<string | number>): string {
    const names = parts.map((p) => (typeof p === 'number' ? this.ints([p]) : p));
    return names.length === 1 ? names[0] : this.op('Concat', names, { axis: 0 });
  }

  reshape(x: string, parts: Array<string | number>): string {
    if (parts.every((p) => typeof p === 'number'))
      return this.op('Reshape', [x, this.ints(parts as number[])]);
    return this.op('Reshape', [x, this.shapeOf(parts)]);
  }

  transpose(x: string, perm: number[]): string {
    return this.op('Transpose', [x], { perm });
  }

  unsqueeze(x: string, axes: number[]): string {
    return this.op('Unsqueeze', [x, this.ints(axes)]);
  }

  // ---- encoding -----------------------------------------------------------------------------------------------

  /** Bytes held by initializers. */
  get weightBytes(): number {
    return this.inits.reduce((a, i) => a + i.bytes.byteLength, 0);
  }

  private model(initializers: onnx.ITensorProto[]): onnx.ModelProto {
    const opsetImport: onnx.IOperatorSetIdProto[] = [{ domain: '', version: ONNX_OPSET }];
    if (this.usesMs) opsetImport.push({ domain: MS_DOMAIN, version: 1 });
    return onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'ddit-studio',
      producerVersion: '1',
      opsetImport,
      metadataProps: Object.entries(this.metadata).map(([key, value]) => ({ key, value })),
      graph: {
        name: this.name,
        node: this.nodes,
        input: this.inputs,
        output: this.outputs,
        initializer: initializers,
      },
    });
  }

  private inlineInits(): onnx.ITensorProto[] {
    return this.inits.map((i) => ({
      name: i.name,
      dims: i.dims,
      dataType: DATA_TYPE[i.type],
      rawData: i.bytes,
    }));
  }

  /** The whole model (weights inline) as protobuf bytes; fails above protobuf's 2 GiB limit. */
  toBytes(): Uint8Array {
    if (this.weightBytes >= PROTO_LIMIT) {
      throw new Error(
        `ONNX graph ${this.name}: ${(this.weightBytes / 2 ** 30).toFixed(1)} GiB of weights do not fit in one ` +
          'protobuf; save() it to a file (weights go to an external data file)',
      );
    }
    return onnx.ModelProto.encode(this.model(this.inlineInits())).finish();
  }

  /**
   * Writes the model to `file` atomically. Above `externalAbove` bytes the weights go to `<file>.data` (ONNX
   * external data, offsets 64-byte aligned) and the model file keeps only the graph.
   */
  save(file: string, opts: SaveOptions = {}): void {
    const limit = opts.externalAbove ?? 2 ** 30;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    if (this.weightBytes <= limit) {
      fs.writeFileSync(tmp, this.toBytes());
      fs.renameSync(tmp, file);
      return;
    }
    const dataName = `${path.basename(file)}.data`;
    const dataTmp = `${path.join(path.dirname(file), dataName)}.tmp-${process.pid}`;
    const fd = fs.openSync(dataTmp, 'w');
    let offset = 0;
    const inits: onnx.ITensorProto[] = [];
    try {
      for (const i of this.inits) {
        if (i.bytes.byteLength < 1024) {
          inits.push({ name: i.name, dims: i.dims, dataType: DATA_TYPE[i.type], rawData: i.bytes });
          continue;
        }
        const pad = (64 - (offset % 64)) % 64;
        if (pad) fs.writeSync(fd, new Uint8Array(pad));
        offset += pad;
        fs.writeSync(fd, i.bytes);
        inits.push({
          name: i.name,
          dims: i.dims,
          dataType: DATA_TYPE[i.type],
          dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
          externalData: [
            { key: 'location', value: dataName },
            { key: 'offset', value: String(offset) },
            { key: 'length', value: String(i.bytes.byteLength) },
          ],
        });
        offset += i.bytes.byteLength;
      }
    } finally {
      fs.closeSync(fd);
    }
    fs.writeFileSync(tmp, onnx.ModelProto.encode(this.model(inits)).finish());
    fs.renameSync(dataTmp, path.join(path.dirname(file), dataName));
    fs.renameSync(tmp, file);
  }
}
