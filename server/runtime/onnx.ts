/**
 * ONNX inference through onnxruntime-node, behind the same tfjs-tensor interfaces as the tfjs models: callers
 * pass and get tf.Tensors, so a node does not care which runtime serves a model.
 *
 * Sessions: CPU with intra-op threads = every core (or DDIT_ONNX_THREADS), sequential execution, graph
 * optimisation 'all' (the settings measured fastest in notes/cpu-compute.md §2), intra-op threads spinning only
 * while a run is in progress (DDIT_ONNX_SPINNING; see OnnxSessionOptions.spinning). The CUDA execution provider
 * is used when onnxruntime-node has its CUDA provider library installed (device 'auto'), or demanded with
 * device 'cuda' / DDIT_ONNX_DEVICE=cuda; DDIT_ONNX_DEVICE=cpu keeps everything on the CPU.
 *
 * Contracts: a model "given as .onnx" must match a documented OnnxContract (names, dtypes, layouts); see
 * VAE_DECODER_CONTRACT below and docs/onnx-models.md. OnnxVaeDecoder serves such a model with the
 * `decode(latent) → image` shape of the tfjs VAE.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type * as Ort from 'onnxruntime-node';
import { tf } from './tf';
import { decodeF16, encodeF16 } from './half';

type OrtModule = typeof Ort;
type OrtTensor = Ort.Tensor;
type OrtType = Ort.Tensor.Type;

let ortModule: OrtModule | null = null;

/** onnxruntime-node, loaded on first use (its native library is large and many processes never need it). */
function ort(): OrtModule {
  if (!ortModule) ortModule = require('onnxruntime-node') as OrtModule;
  return ortModule;
}

export type OnnxDevice = 'auto' | 'cpu' | 'cuda';
export type OnnxSpinning = boolean | 'run';

export interface OnnxSessionOptions {
  /** 'auto' (default, or DDIT_ONNX_DEVICE): CUDA when its provider library is installed, else CPU. */
  device?: OnnxDevice;
  /** Intra-op threads (default DDIT_ONNX_THREADS, else every core). */
  threads?: number;
  graphOptimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Whether idle intra-op threads spin for new work.
   * 'run' (default): they spin between the operators of one run and stop when it returns (onnxruntime's
   * session.force_spinning_stop). A sampler's loop of runs then skips a thread wake-up per operator; on the peer
   * benchmark (2 cores, bundled size) captions took 136–144 ms instead of 191–202 and VQA answers 80–97 instead of
   * 113–136. The price: the first run after an idle pause is slower (a lone forward after 300 ms: 11 ms against 7).
   * false: they sleep between operators. true: onnxruntime's own default, spinning also between runs, which takes
   * the cores from the JS work between runs (masked samplers 1.2–1.5× PyTorch's time instead of 0.5–0.6×).
   * Default: DDIT_ONNX_SPINNING=0|1|run, else 'run'.
   */
  spinning?: OnnxSpinning;
  /** Name used in error messages (default: the file name, or "onnx model"). */
  label?: string;
}

export class OnnxError extends Error {
  constructor(label: string, message: string) {
    super(`ONNX model "${label}": ${message}`);
    this.name = 'OnnxError';
  }
}

/** dtype and shape of a model input or output; symbolic dimensions are strings, unknown ones null. */
export interface OnnxValueInfo {
  name: string;
  /** ONNX element type as onnxruntime names it ('float32', 'int64', …), or null for non-tensor values. */
  type: OrtType | null;
  /** null when the model declares no shape. */
  shape: (number | string)[] | null;
}

function coreCount(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

function cudaProviderInstalled(): boolean {
  try {
    const pkgDir = path.dirname(require.resolve('onnxruntime-node/package.json'));
    const binDir = path.join(pkgDir, 'bin', 'napi-v6', process.platform, process.arch);
    const lib =
      process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
    return fs.existsSync(path.join(binDir, lib));
  } catch {
    return false;
  }
}

export interface OnnxRuntimeInfo {
  version: string;
  /** Execution providers this installation can use. */
  providers: string[];
  cuda: boolean;
  /** Default intra-op threads. */
  threads: number;
}

/** What onnxruntime-node offers here (for /system_stats and the CLI). */
export function onnxRuntimeInfo(): OnnxRuntimeInfo {
  const o = ort();
  const cuda = cudaProviderInstalled();
  const providers = o
    .listSupportedBackends()
    .filter((b) => b.bundled || (b.name === 'cuda' && cuda))
    .map((b) => b.name);
  return {
    version: o.env.versions.node ?? o.env.versions.common,
    providers,
    cuda,
    threads: defaultThreads(),
  };
}

function defaultThreads(): number {
  const raw = process.env.DDIT_ONNX_THREADS?.trim();
  if (raw) {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1)
      throw new Error(`DDIT_ONNX_THREADS="${raw}" must be a positive integer`);
    return n;
  }
  return coreCount();
}

/** The spinning mode a session gets: the option, else DDIT_ONNX_SPINNING, else 'run'. */
export function resolveSpinning(option?: OnnxSpinning): OnnxSpinning {
  if (option !== undefined) return option;
  const raw = process.env.DDIT_ONNX_SPINNING?.trim();
  if (!raw) return 'run';
  if (raw === 'run') return 'run';
  if (raw === '0' || raw === '1') return raw === '1';
  throw new Error(`DDIT_ONNX_SPINNING="${raw}" must be 0, 1 or run`);
}

/** onnxruntime session config entries for a spinning mode. */
function spinningConfig(mode: OnnxSpinning): Record<string, string> {
  if (mode === true) return {};
  if (mode === 'run') return { 'session.force_spinning_stop': '1' };
  return { 'session.intra_op.allow_spinning': '0', 'session.inter_op.allow_spinning': '0' };
}

function deviceFromEnv(): OnnxDevice {
  const raw = process.env.DDIT_ONNX_DEVICE?.trim().toLowerCase();
  if (!raw) return 'auto';
  if (raw === 'auto' || raw === 'cpu' || raw === 'cuda') return raw;
  throw new Error(`DDIT_ONNX_DEVICE="${process.env.DDIT_ONNX_DEVICE}" is not one of auto, cpu, cuda`);
}

// ---------------------------------------------------------------------------------------------------------------
// tensor conversion

const TF_DTYPE_FOR: Partial<Record<OrtType, tf.DataType>> = {
  float32: 'float32',
  float16: 'float32',
  float64: 'float32',
  int32: 'int32',
  int64: 'int32',
  int16: 'int32',
  int8: 'int32',
  uint8: 'int32',
  uint16: 'int32',
  uint32: 'int32',
  bool: 'bool',
};

/**
 * tf.Tensor → ort.Tensor of element type `type` (default: the tensor's own). float32 may become float16 or
 * float64; int32 may become int64 (token ids usually are) or any narrower integer type.
 */
export function toOrtTensor(t: tf.Tensor, type?: OrtType, label = 'tensor'): OrtTensor {
  const o = ort();
  const dims = [...t.shape];
  const target: OrtType = type ?? (t.dtype === 'bool' ? 'bool' : t.dtype === 'int32' ? 'int32' : 'float32');
  const from = t.dtype;
  const bad = () => new Error(`${label}: cannot feed a ${from} tensor as ONNX ${target}`);
  if (from === 'string' || from === 'complex64') throw bad();
  const values = t.dataSync();
  switch (target) {
    case 'float32':
      if (from !== 'float32') throw bad();
      return new o.Tensor('float32', Float32Array.from(values as Float32Array), dims);
    case 'float16':
      if (from !== 'float32') throw bad();
      return new o.Tensor('float16', encodeF16(Float32Array.from(values as Float32Array)), dims);
    case 'float64':
      if (from !== 'float32') throw bad();
      return new o.Tensor('float64', Float64Array.from(values as Float32Array), dims);
    case 'int32':
      if (from !== 'int32') throw bad();
      return new o.Tensor('int32', Int32Array.from(values as Int32Array), dims);
    case 'int64':
      if (from !== 'int32') throw bad();
      return new o.Tensor(
        'int64',
        BigInt64Array.from(values as Int32Array, (v) => BigInt(v)),
        dims,
      );
    case 'int16':
    case 'int8':
    case 'uint8':
    case 'uint16': {
      if (from !== 'int32') throw bad();
      const Arr = { int16: Int16Array, int8: Int8Array, uint8: Uint8Array, uint16: Uint16Array }[target];
      return new o.Tensor(target, Arr.from(values as Int32Array), dims);
    }
    case 'bool':
      if (from !== 'bool') throw bad();
      return new o.Tensor('bool', Uint8Array.from(values as Uint8Array), dims);
    default:
      throw bad();
  }
}

/** ort.Tensor → tf.Tensor: floats become float32, integers int32 (int64 values must fit), bool stays bool. */
export function fromOrtTensor(t: OrtTensor, label = 'tensor'): tf.Tensor {
  const shape = t.dims.map(Number);
  const dtype = TF_DTYPE_FOR[t.type];
  if (!dtype) throw new Error(`${label}: ONNX ${t.type} outputs have no tfjs equivalent`);
  const data = t.data;
  switch (t.type) {
    case 'float32':
      return tf.tensor(data as Float32Array, shape, 'float32');
    case 'float16':
      // onnxruntime hands float16 out as raw bits, or as Float16Array where the JS engine has one
      return data instanceof Uint16Array
        ? tf.tensor(decodeF16(data), shape, 'float32')
        : tf.tensor(Float32Array.from(data as ArrayLike<number>), shape, 'float32');
    case 'int64':
    case 'uint64': {
      const src = data as BigInt64Array;
      const out = new Int32Array(src.length);
      for (let i = 0; i < src.length; i++) {
        const v = src[i];
        if (v > 2147483647n || v < -2147483648n)
          throw new Error(`${label}: int64 value ${v} does not fit in int32`);
        out[i] = Number(v);
      }
      return tf.tensor(out, shape, 'int32');
    }
    case 'bool':
      return tf.tensor(Uint8Array.from(data as Uint8Array), shape, 'bool');
    default:
      return tf.tensor(
        dtype === 'float32'
          ? Float32Array.from(data as ArrayLike<number>)
          : Int32Array.from(data as ArrayLike<number>),
        shape,
        dtype,
      );
  }
}

// ---------------------------------------------------------------------------------------------------------------
// sessions

function valueInfo(m: Ort.InferenceSession.ValueMetadata): OnnxValueInfo {
  if (!m.isTensor) return { name: m.name, type: null, shape: null };
  return { name: m.name, type: m.type, shape: m.shape.length === 0 ? null : [...m.shape] };
}

function describeShape(shape: readonly (number | string)[] | null): string {
  return shape ? `[${shape.join(',')}]` : '[?]';
}

/** A loaded ONNX model. Owns a native session: call dispose() (the engine cache does, via dispose/byteSize). */
export class OnnxModel {
  readonly inputs: OnnxValueInfo[];
  readonly outputs: OnnxValueInfo[];
  private session: Ort.InferenceSession | null;

  private constructor(
    session: Ort.InferenceSession,
    /** Name used in errors. */
    readonly label: string,
    /** Execution provider actually in use. */
    readonly provider: 'cpu' | 'cuda',
    /** Size of the model file, a stand-in for the memory the session holds. */
    readonly byteSize: number,
    /** Why a preferred provider was not used (e.g. CUDA failed to start). */
    readonly fallbacks: string[],
  ) {
    this.session = session;
    this.inputs = session.inputMetadata.map(valueInfo);
    this.outputs = session.outputMetadata.map(valueInfo);
  }

  /** Loads a model from a file path or from its bytes. */
  static async load(source: string | Uint8Array, opts: OnnxSessionOptions = {}): Promise<OnnxModel> {
    const label = opts.label ?? (typeof source === 'string' ? path.basename(source) : 'onnx model');
    let size: number;
    if (typeof source === 'string') {
      try {
        size = fs.statSync(source).size;
      } catch {
        throw new OnnxError(label, `file not found: ${source}`);
      }
    } else {
      size = source.byteLength;
    }
    const device = opts.device ?? deviceFromEnv();
    const base: Ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: opts.threads ?? defaultThreads(),
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: opts.graphOptimization ?? 'all',
      extra: spinningConfig(resolveSpinning(opts.spinning)),
    };
    const create = (providers: string[]) => {
      const options = { ...base, executionProviders: providers };
      return typeof source === 'string'
        ? ort().InferenceSession.create(source, options)
        : ort().InferenceSession.create(source, options);
    };
    const fallbacks: string[] = [];
    if (device === 'cuda' || (device === 'auto' && cudaProviderInstalled())) {
      if (!cudaProviderInstalled() && device === 'cuda') {
        throw new OnnxError(label, 'CUDA was requested but onnxruntime-node has no CUDA provider installed');
      }
      try {
        return new OnnxModel(await create(['cuda', 'cpu']), label, 'cuda', size, fallbacks);
      } catch (e) {
        if (device === 'cuda') throw new OnnxError(label, `CUDA session failed: ${(e as Error).message}`);
        fallbacks.push(`cuda: ${(e as Error).message}`);
      }
    }
    try {
      return new OnnxModel(await create(['cpu']), label, 'cpu', size, fallbacks);
    } catch (e) {
      throw new OnnxError(label, `cannot load: ${(e as Error).message}`);
    }
  }

  get inputNames(): string[] {
    return this.inputs.map((i) => i.name);
  }

  get outputNames(): string[] {
    return this.outputs.map((o) => o.name);
  }

  /** Checks a feed against the declared inputs: names, ranks and fixed dimensions. */
  private checkFeeds(feeds: Record<string, tf.Tensor>): void {
    const expected = this.inputNames;
    for (const name of Object.keys(feeds)) {
      if (!expected.includes(name)) {
        throw new OnnxError(this.label, `unknown input "${name}" (inputs: ${expected.join(', ')})`);
      }
    }
    for (const info of this.inputs) {
      const t = feeds[info.name];
      if (!t) throw new OnnxError(this.label, `missing input "${info.name}" ${describeShape(info.shape)}`);
      if (t.isDisposed) throw new OnnxError(this.label, `input "${info.name}" is a disposed tensor`);
      if (!info.shape) continue;
      const fits =
        info.shape.length === t.rank && info.shape.every((d, i) => typeof d !== 'number' || d === t.shape[i]);
      if (!fits) {
        throw new OnnxError(
          this.label,
          `input "${info.name}" expects ${info.type} ${describeShape(info.shape)}, got ${t.dtype} [${t.shape.join(',')}]`,
        );
      }
    }
  }

  /**
   * Runs the model on tf tensors (converted to the element types the model declares) and returns tf tensors,
   * owned by the caller. `outputs` picks which to compute (default all).
   */
  async run(feeds: Record<string, tf.Tensor>, outputs?: string[]): Promise<Record<string, tf.Tensor>> {
    const session = this.session;
    if (!session) throw new OnnxError(this.label, 'session was disposed');
    this.checkFeeds(feeds);
    const wanted = outputs ?? this.outputNames;
    for (const name of wanted) {
      if (!this.outputNames.includes(name)) {
        throw new OnnxError(this.label, `unknown output "${name}" (outputs: ${this.outputNames.join(', ')})`);
      }
    }
    const ortFeeds: Record<string, OrtTensor> = {};
    for (const info of this.inputs) {
      try {
        ortFeeds[info.name] = toOrtTensor(feeds[info.name], info.type ?? undefined, `input "${info.name}"`);
      } catch (e) {
        throw new OnnxError(this.label, (e as Error).message);
      }
    }
    let results: Ort.InferenceSession.OnnxValueMapType;
    try {
      results = await session.run(ortFeeds, wanted);
    } catch (e) {
      throw new OnnxError(this.label, `run failed: ${(e as Error).message}`);
    }
    const out: Record<string, tf.Tensor> = {};
    try {
      for (const name of wanted) out[name] = fromOrtTensor(results[name] as OrtTensor, `output "${name}"`);
    } catch (e) {
      tf.dispose(Object.values(out));
      throw new OnnxError(this.label, (e as Error).message);
    }
    return out;
  }

  /** Releases the native session (idempotent; the engine cache calls this on eviction). */
  dispose(): void {
    const s = this.session;
    this.session = null;
    if (s) void s.release();
  }

  get isDisposed(): boolean {
    return this.session === null;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// contracts

export interface OnnxValueSpec {
  name: string;
  type: OrtType;
  /** Numbers are fixed sizes; strings name free dimensions (documentation only). */
  shape: (number | string)[];
  description: string;
}

/** What a model of some kind must look like to be served by a given node. */
export interface OnnxContract {
  kind: string;
  description: string;
  inputs: OnnxValueSpec[];
  outputs: OnnxValueSpec[];
}

/**
 * A VAE decoder given as .onnx (docs/onnx-models.md):
 * - input `latent`: float32 [B, h, w, C], NHWC, in the DiT's latent space exactly as the LATENT socket carries
 *   it (already shifted and scaled); the graph undoes scaling_factor / shift_factor itself. Declare C as a
 *   fixed dimension so the channel count can be checked before running.
 * - output `image`: float32 [B, H, W, 3], NHWC, RGB in [0, 1] (H = h·f, W = w·f for the downsampling factor f);
 *   the graph maps the decoder's [-1, 1] to [0, 1] and clamps.
 * B, h and w should be symbolic (dynamic axes) so any batch and size decode.
 */
export const VAE_DECODER_CONTRACT: OnnxContract = {
  kind: 'vae-decoder',
  description: 'DiT-space latent [B,h,w,C] NHWC → RGB image [B,H,W,3] NHWC in [0,1]',
  inputs: [
    {
      name: 'latent',
      type: 'float32',
      shape: ['B', 'h', 'w', 'C'],
      description: 'LATENT.samples: shifted and scaled latent, NHWC',
    },
  ],
  outputs: [
    { name: 'image', type: 'float32', shape: ['B', 'H', 'W', 3], description: 'RGB in [0, 1], NHWC' },
  ],
};

function checkValue(
  fail: (msg: string) => never,
  role: string,
  spec: OnnxValueSpec,
  have?: OnnxValueInfo,
): void {
  if (!have) fail(`it has no ${role} named "${spec.name}"`);
  if (have.type !== spec.type)
    fail(`${role} "${spec.name}" is ${have.type ?? 'not a tensor'}, not ${spec.type}`);
  if (!have.shape) return; // undeclared shapes are checked at run time
  const declared = have.shape;
  const fits =
    declared.length === spec.shape.length &&
    spec.shape.every((d, i) => typeof d !== 'number' || typeof declared[i] !== 'number' || declared[i] === d);
  if (!fits)
    fail(`${role} "${spec.name}" has shape ${describeShape(declared)}, not ${describeShape(spec.shape)}`);
}

/** Throws an OnnxError naming the model and the value when `model` does not meet `contract`. */
export function assertContract(model: OnnxModel, contract: OnnxContract): void {
  const fail = (msg: string): never => {
    throw new OnnxError(model.label, `does not fit the ${contract.kind} contract: ${msg}`);
  };
  for (const spec of contract.inputs) {
    checkValue(
      fail,
      'input',
      spec,
      model.inputs.find((i) => i.name === spec.name),
    );
  }
  const extra = model.inputs.filter((i) => !contract.inputs.some((s) => s.name === i.name));
  if (extra.length > 0)
    fail(`it has inputs the contract does not define: ${extra.map((e) => e.name).join(', ')}`);
  for (const spec of contract.outputs) {
    checkValue(
      fail,
      'output',
      spec,
      model.outputs.find((o) => o.name === spec.name),
    );
  }
}

/**
 * A VAE decoder served by onnxruntime, with the tfjs VAE's decode shape (DiT-space latent [B,h,w,C] → image
 * [B,H,W,3] in [0,1]), so it fits wherever the sampling code takes a VAE.
 */
export class OnnxVaeDecoder {
  /** Latent channels when the model declares them, else null. */
  readonly latentChannels: number | null;

  private constructor(readonly model: OnnxModel) {
    const c = model.inputs.find((i) => i.name === 'latent')?.shape?.[3];
    this.latentChannels = typeof c === 'number' ? c : null;
  }

  static async load(source: string | Uint8Array, opts: OnnxSessionOptions = {}): Promise<OnnxVaeDecoder> {
    const model = await OnnxModel.load(source, opts);
    try {
      assertContract(model, VAE_DECODER_CONTRACT);
    } catch (e) {
      model.dispose();
      throw e;
    }
    return new OnnxVaeDecoder(model);
  }

  async decode(latent: tf.Tensor4D): Promise<tf.Tensor4D> {
    if (latent.rank !== 4) {
      throw new OnnxError(
        this.model.label,
        `decode expects a latent [B,h,w,C], got [${latent.shape.join(',')}]`,
      );
    }
    const { image } = await this.model.run({ latent }, ['image']);
    if (image.rank !== 4 || image.shape[3] !== 3 || image.shape[0] !== latent.shape[0]) {
      const got = image.shape.join(',');
      image.dispose();
      throw new OnnxError(this.model.label, `output "image" is [${got}], the contract wants [B,H,W,3]`);
    }
    return image as tf.Tensor4D;
  }

  get byteSize(): number {
    return this.model.byteSize;
  }

  dispose(): void {
    this.model.dispose();
  }
}
