// Native float32 kernels for the tfjs wasm backend.
//
// The wasm backend runs BatchMatMul on XNNPACK only for batch 1 without
// transpose flags; every other case (all backward matmuls, attention) takes a
// scalar loop at ~2 GFLOP/s. This module re-registers the wasm matmul kernels
// to call an N-API addon over OpenBLAS (native/, built at install by
// scripts/build-native.js). The addon reads and writes the wasm heap in place,
// so tensors never leave it. Whatever the addon cannot take (other dtypes,
// general batch broadcasting, empty tensors) goes to the original kernel, and
// when the addon is missing nothing is re-registered at all.

import * as fs from 'fs';
import * as path from 'path';
import type * as tfjs from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type Tf = typeof tfjs;
type KernelConfig = ReturnType<Tf['getKernel']>;
type KernelFunc = KernelConfig['kernelFunc'];
type KernelArgs = Parameters<KernelFunc>[0];
type TensorInfo = ReturnType<BackendWasm['makeOutput']>;

/** The addon's surface (native/src/addon.cc). Offsets and strides count float32 elements. */
export interface NativeAddon {
  gemmBatched(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    batch: number,
    alpha: number,
    beta: number,
    a: Float32Array,
    aOffset: number,
    lda: number,
    strideA: number,
    b: Float32Array,
    bOffset: number,
    ldb: number,
    strideB: number,
    c: Float32Array,
    cOffset: number,
    ldc: number,
    strideC: number,
  ): void;
  /** AdamW step over n elements: m, v in place, new weights to wOut (see native/src/addon.cc). */
  adamw(
    n: number,
    w: Float32Array,
    wOffset: number,
    wOut: Float32Array,
    wOutOffset: number,
    g: Float32Array,
    gOffset: number,
    m: Float32Array,
    mOffset: number,
    v: Float32Array,
    vOffset: number,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    bc1: number,
    bc2: number,
    gradScale: number,
  ): void;
  /** out[o·inner + i] = Σ_m x[(o·mid + m)·inner + i]: a sum over one contiguous block of axes. */
  reduceSum(
    outer: number,
    mid: number,
    inner: number,
    x: Float32Array,
    xOffset: number,
    out: Float32Array,
    outOffset: number,
  ): void;
  /** GELU (tanh approximation, sigmoid form) over n elements, and its gradient. */
  geluTanh(n: number, x: Float32Array, xOffset: number, y: Float32Array, yOffset: number): void;
  geluTanhGrad(
    n: number,
    dy: Float32Array,
    dyOffset: number,
    x: Float32Array,
    xOffset: number,
    dx: Float32Array,
    dxOffset: number,
  ): void;
  /** LayerNorm over rows of `cols` (no affine), and its input gradient. */
  layerNorm(
    rows: number,
    cols: number,
    eps: number,
    x: Float32Array,
    xOffset: number,
    y: Float32Array,
    yOffset: number,
  ): void;
  layerNormGrad(
    rows: number,
    cols: number,
    eps: number,
    dy: Float32Array,
    dyOffset: number,
    x: Float32Array,
    xOffset: number,
    dx: Float32Array,
    dxOffset: number,
  ): void;
  /** y = LN(x)·(1 + scale[b]) + shift[b] over x [B,T,D], and its gradients (dx, dscale, dshift). */
  adaLayerNorm(
    B: number,
    T: number,
    D: number,
    eps: number,
    ...operands: [Float32Array, number, Float32Array, number, Float32Array, number, Float32Array, number]
  ): void;
  adaLayerNormGrad(
    B: number,
    T: number,
    D: number,
    eps: number,
    ...operands: [
      Float32Array,
      number,
      Float32Array,
      number,
      Float32Array,
      number,
      Float32Array,
      number,
      Float32Array,
      number,
      Float32Array,
      number,
    ]
  ): void;
  /** z = x + gate[b]·y over [B,T,D], and its gradients (dy, dgate). */
  gatedAdd(
    B: number,
    T: number,
    D: number,
    ...operands: [Float32Array, number, Float32Array, number, Float32Array, number, Float32Array, number]
  ): void;
  gatedAddGrad(
    B: number,
    T: number,
    D: number,
    ...operands: [
      Float32Array,
      number,
      Float32Array,
      number,
      Float32Array,
      number,
      Float32Array,
      number,
      Float32Array,
      number,
    ]
  ): void;
  /** Every row of out (rows × n) set to v. */
  fillRows(
    rows: number,
    n: number,
    v: Float32Array,
    vOffset: number,
    out: Float32Array,
    outOffset: number,
  ): void;
  /** out[i] = table[ids[i]] for n rows of `cols` floats; throws a RangeError naming an id outside [0, rows). */
  gatherRows(
    n: number,
    cols: number,
    rows: number,
    table: Float32Array,
    tableOffset: number,
    ids: Int32Array,
    idsOffset: number,
    out: Float32Array,
    outOffset: number,
  ): void;
  /** s = decay·s + (1 − decay)·w over n elements, in place. */
  emaUpdate(
    n: number,
    s: Float32Array,
    sOffset: number,
    w: Float32Array,
    wOffset: number,
    decay: number,
  ): void;
  /** Σ x² over n elements, accumulated in double. */
  sumSquares(n: number, x: Float32Array, xOffset: number): number;
  /**
   * Multi-head attention on token-major tensors (q [B,Lq,H·dh], k [B,Lk,H·dh], v [B,Lk,H·dv] → out
   * [B,Lq,H·dv]), keeping the probabilities p [B,H,Lq,Lk] for the gradient; bias [H,Lq,Lk] or null.
   */
  attention(
    ...args: [
      ...AttentionDims,
      ...HeapOperand,
      ...HeapOperand,
      ...HeapOperand,
      ...OptionalOperand,
      ...HeapOperand,
      ...HeapOperand,
    ]
  ): void;
  /**
   * MM-DiT joint attention from fused projections x [B,N,3D], c [B,M,3D] (q | k | v per token, image tokens
   * first) to ox [B,N,D], oc [B,M,D]: (B, H, N, M, dh, scale, x, c, ox, oc).
   */
  jointAttention(
    ...args: [...JointDims, ...HeapOperand, ...HeapOperand, ...HeapOperand, ...HeapOperand]
  ): void;
  /** Its gradient: (B, H, N, M, dh, scale, dox, doc, x, c, dx, dc), dx and dc laid out as x and c. */
  jointAttentionGrad(
    ...args: [
      ...JointDims,
      ...HeapOperand,
      ...HeapOperand,
      ...HeapOperand,
      ...HeapOperand,
      ...HeapOperand,
      ...HeapOperand,
    ]
  ): void;
  /** Gradients of attention from dout and the saved q, k, v, p: dq, dk, dv and, when asked for, dbias [H,Lq,Lk]. */
  attentionGrad(
    ...args: [
      ...AttentionDims,
      ...HeapOperand,
      ...HeapOperand,
      ...HeapOperand,
      ...HeapOperand,
      ...HeapOperand,
      ...HeapOperand,
      ...HeapOperand,
      ...HeapOperand,
      ...OptionalOperand,
    ]
  ): void;
  setThreads(threads: number): void;
  /** How long idle worker threads (and a caller waiting on them) spin before sleeping, in µs; 0 = never. */
  setSpin(us: number): void;
  getSpin(): number;
  /** Diagnostic: OpenBLAS's own thread count (the addon keeps it at 1 and splits work itself). */
  setBlasThreads(threads: number): void;
  getThreads(): number;
  library(): string;
}

/** B, H, Lq, Lk, dh, dv, scale. */
type AttentionDims = [number, number, number, number, number, number, number];
/** B, H, N (image tokens), M (text tokens), dh, scale. */
type JointDims = [number, number, number, number, number, number];
/** A Float32Array and an element offset into it. */
type HeapOperand = [Float32Array, number];
type OptionalOperand = [Float32Array | null, number];

export interface NativeKernelsStatus {
  loaded: boolean;
  /** BLAS build description, e.g. "OpenBLAS 0.3.21 … (core Zen)". */
  library: string | null;
  /** Why the addon is not in use (when loaded is false). */
  reason?: string;
  /** Threads the addon splits work across. */
  threads?: number;
  /** Microseconds an idle worker spins before it sleeps (DDIT_NATIVE_SPIN_US). */
  spinUs?: number;
  /** Kernels currently routed to the addon. */
  kernels?: string[];
}

export interface LoadOptions {
  /** Force the fallback (as DDIT_NATIVE=0 does). */
  disabled?: boolean;
  /** Path of the compiled addon; defaults to native/build/Release/ddit_native.node. */
  addonPath?: string;
  /** Worker threads of the addon; defaults to DDIT_NATIVE_THREADS, else OPENBLAS_NUM_THREADS, else all cores. */
  threads?: number;
}

const REQUIRED_FUNCTIONS: ReadonlyArray<keyof NativeAddon> = [
  'gemmBatched',
  'adamw',
  'emaUpdate',
  'sumSquares',
  'reduceSum',
  'fillRows',
  'gatherRows',
  'geluTanh',
  'geluTanhGrad',
  'layerNorm',
  'layerNormGrad',
  'adaLayerNorm',
  'adaLayerNormGrad',
  'gatedAdd',
  'gatedAddGrad',
  'attention',
  'attentionGrad',
  'jointAttention',
  'jointAttentionGrad',
  'setThreads',
  'setSpin',
  'getSpin',
  'setBlasThreads',
  'getThreads',
  'library',
];

export const DEFAULT_ADDON_PATH = path.resolve(__dirname, '../../native/build/Release/ddit_native.node');

let addon: NativeAddon | null = null;
let status: NativeKernelsStatus = { loaded: false, library: null, reason: 'not loaded yet' };

function envDisabled(): boolean {
  const v = (process.env.DDIT_NATIVE ?? '').trim().toLowerCase();
  return v === '0' || v === 'false' || v === 'off' || v === 'no';
}

/**
 * Loads the addon once (later calls return the first result unless the
 * options change the outcome). Never throws: a missing or broken addon gives
 * loaded=false and a reason, and the wasm kernels stay in place.
 */
export function loadNativeKernels(options: LoadOptions = {}): NativeKernelsStatus {
  if (options.disabled || envDisabled()) {
    addon = null;
    status = { loaded: false, library: null, reason: 'disabled (DDIT_NATIVE=0)' };
    return { ...status };
  }
  const file = options.addonPath ?? DEFAULT_ADDON_PATH;
  if (addon === null || options.addonPath !== undefined) {
    if (!fs.existsSync(file)) {
      addon = null;
      status = {
        loaded: false,
        library: null,
        reason: `addon not built (${path.relative(process.cwd(), file) || file} missing; run "node scripts/build-native.js", needs g++ and libopenblas-dev)`,
      };
      return { ...status };
    }
    let loadedAddon: NativeAddon;
    try {
      loadedAddon = require(file) as NativeAddon;
    } catch (err) {
      addon = null;
      status = { loaded: false, library: null, reason: `addon failed to load: ${(err as Error).message}` };
      return { ...status };
    }
    // A binary built from older sources lacks entry points this module calls.
    const missing = REQUIRED_FUNCTIONS.filter((f) => typeof loadedAddon[f] !== 'function');
    if (missing.length) {
      addon = null;
      status = {
        loaded: false,
        library: null,
        reason: `addon out of date (no ${missing.join(', ')}; rebuild with "node scripts/build-native.js")`,
      };
      return { ...status };
    }
    addon = loadedAddon;
  }
  const threads = options.threads ?? parseThreads(process.env.DDIT_NATIVE_THREADS);
  if (threads !== undefined) addon.setThreads(threads);
  status = {
    loaded: true,
    library: addon.library(),
    threads: addon.getThreads(),
    spinUs: addon.getSpin(),
    kernels: registeredNames(),
  };
  return { ...status };
}

function parseThreads(v: string | undefined): number | undefined {
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  return Number.isInteger(n) && n >= 1 ? n : undefined;
}

/** The loaded addon, for callers that run kernels on their own arrays (benchmarks, tests). */
export function nativeAddon(): NativeAddon | null {
  return addon;
}

export function nativeKernelsStatus(): NativeKernelsStatus {
  return { ...status, kernels: registeredNames() };
}

/** Sets the addon's thread count; a no-op when the addon is not loaded. */
export function setNativeThreads(threads: number): void {
  addon?.setThreads(threads);
  if (addon && status.loaded) status.threads = addon.getThreads();
}

/**
 * Sets how long the addon's idle threads spin before sleeping (µs; 0 = sleep at once). A training step
 * makes hundreds of native calls in quick succession, and waking a sleeping thread costs tens of µs.
 */
export function setNativeSpin(us: number): void {
  addon?.setSpin(us);
  if (addon && status.loaded) status.spinUs = addon.getSpin();
}

// Original wasm kernels, keyed by kernel name, while ours are registered.
const originals = new Map<string, KernelConfig>();

function registeredNames(): string[] {
  return [...originals.keys()];
}

const BACKEND = 'wasm';

/**
 * Routes the wasm backend's matmul kernels to the addon. Loads the addon if
 * needed; when it is unavailable this changes nothing and reports why.
 * Safe to call before or after the wasm backend is initialised, and twice.
 */
export function registerNativeKernels(tf: Tf, options: LoadOptions = {}): NativeKernelsStatus {
  const loaded = loadNativeKernels(options);
  if (!loaded.loaded) {
    unregisterNativeKernels(tf);
    return nativeKernelsStatus();
  }
  const makers: Record<string, (orig: KernelConfig) => KernelFunc> = {
    BatchMatMul: (orig) => (args) => batchMatMul(tf, args, orig.kernelFunc),
    _FusedMatMul: (orig) => (args) => fusedMatMul(tf, args, orig.kernelFunc),
    Sum: (orig) => (args) => sumKernel(tf, args, orig.kernelFunc),
    GatherV2: (orig) => (args) => gatherKernel(tf, args, orig.kernelFunc),
  };
  registerFusedOps(tf);
  for (const [name, make] of Object.entries(makers)) {
    if (originals.has(name)) continue;
    const orig = tf.getKernel(name, BACKEND);
    if (!orig) continue; // wasm backend not imported: nothing to replace
    tf.unregisterKernel(name, BACKEND);
    // The original setupFunc binds the wasm entry point the fallback calls.
    tf.registerKernel({ ...orig, kernelFunc: make(orig) });
    originals.set(name, orig);
  }
  return nativeKernelsStatus();
}

/**
 * True while the wasm backend is active and its matmuls run on the addon. Model code uses it to pick
 * transpose-flag and batched matmuls (fast here) over the explicit-transpose / per-head forms that
 * suit the plain wasm kernels.
 */
export function nativeMatMulActive(tf: Pick<Tf, 'getBackend'>): boolean {
  return addon !== null && originals.has('BatchMatMul') && tf.getBackend() === BACKEND;
}

/** Puts the original wasm kernels back. */
export function unregisterNativeKernels(tf: Tf): void {
  for (const [name, orig] of originals) {
    tf.unregisterKernel(name, BACKEND);
    tf.registerKernel(orig);
  }
  originals.clear();
}

interface MatMulPlan {
  m: number;
  n: number;
  k: number;
  batch: number;
  strideA: number;
  strideB: number;
  outShape: number[];
  /** For general broadcasting ([2,1]x[1,3]): the A and B matrix index of each output matrix. */
  pairs?: Array<[number, number]>;
}

/** Shapes for C = op(A)·op(B) over broadcast batch dims, or null when the addon cannot take them. */
function planMatMul(
  tf: Tf,
  a: TensorInfo,
  b: TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
): MatMulPlan | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 2 || rb < 2) return null;
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (k !== kb) return null; // the original kernel reports the mismatch
  const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  let outBatch: number[];
  try {
    outBatch = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  } catch {
    return null;
  }
  const batch = tf.util.sizeFromShape(outBatch);
  if (m === 0 || n === 0 || k === 0 || batch === 0) return null;
  const plan: MatMulPlan = {
    m,
    n,
    k,
    batch,
    strideA: batchA === 1 ? 0 : m * k,
    strideB: batchB === 1 ? 0 : k * n,
    outShape: [...outBatch, m, n],
  };
  // Equal batches line up one to one and a single matrix broadcasts with
  // stride 0; anything else (e.g. [2,1]x[1,3], which the wasm kernel gets
  // wrong) is spelled out matrix by matrix.
  if (!((batchA === batch || batchA === 1) && (batchB === batch || batchB === 1))) {
    plan.pairs = broadcastPairs(tf, outBatch, a.shape.slice(0, -2), b.shape.slice(0, -2));
  }
  return plan;
}

function broadcastPairs(
  tf: Tf,
  outBatch: number[],
  aBatch: number[],
  bBatch: number[],
): Array<[number, number]> {
  const index = (shape: number[], outIdx: number[]): number => {
    // Right-align shape against the output; broadcast (size-1) dims read index 0.
    const lead = outIdx.length - shape.length;
    let flat = 0;
    for (let d = 0; d < shape.length; d++) flat = flat * shape[d] + (shape[d] === 1 ? 0 : outIdx[lead + d]);
    return flat;
  };
  const total = tf.util.sizeFromShape(outBatch);
  const pairs: Array<[number, number]> = [];
  const idx = new Array<number>(outBatch.length).fill(0);
  for (let p = 0; p < total; p++) {
    pairs.push([index(aBatch, idx), index(bBatch, idx)]);
    for (let d = outBatch.length - 1; d >= 0; d--) {
      if (++idx[d] < outBatch[d]) break;
      idx[d] = 0;
    }
  }
  return pairs;
}

// Emscripten keeps HEAPF32 current across memory growth; the typings omit it.
function heapF32(backend: BackendWasm): Float32Array {
  return (backend.wasm as unknown as { HEAPF32: Float32Array }).HEAPF32;
}

function heapOffset(backend: BackendWasm, t: TensorInfo): number | null {
  const bytes = backend.dataIdMap.get(t.dataId)?.memoryOffset;
  if (bytes == null || bytes % 4 !== 0) return null;
  return bytes / 4;
}

/** Runs the planned GEMM on the wasm heap into `out` (already allocated). beta=1 accumulates into out. */
function runGemm(
  backend: BackendWasm,
  plan: MatMulPlan,
  a: TensorInfo,
  b: TensorInfo,
  out: TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  beta: number,
): boolean {
  const native = addon;
  const aOff = heapOffset(backend, a);
  const bOff = heapOffset(backend, b);
  const cOff = heapOffset(backend, out);
  if (!native || aOff === null || bOff === null || cOff === null) return false;
  // Read the heap view only now: allocating the output may have grown (and so
  // replaced) the wasm memory.
  const heap = heapF32(backend);
  let { m, batch, strideA } = plan;
  const { n, k, strideB } = plan;
  // A stack of untransposed A against one B is a single tall GEMM.
  if (!plan.pairs && batch > 1 && strideB === 0 && strideA !== 0 && !transposeA) {
    m *= batch;
    batch = 1;
    strideA = 0;
  }
  const lda = transposeA ? m : k;
  const ldb = transposeB ? k : n;
  if (plan.pairs) {
    plan.pairs.forEach(([ia, ib], p) =>
      native.gemmBatched(
        transposeA,
        transposeB,
        m,
        n,
        k,
        1,
        1,
        beta,
        heap,
        aOff + ia * m * k,
        lda,
        0,
        heap,
        bOff + ib * k * n,
        ldb,
        0,
        heap,
        cOff + p * m * n,
        n,
        0,
      ),
    );
    return true;
  }
  native.gemmBatched(
    transposeA,
    transposeB,
    m,
    n,
    k,
    batch,
    1,
    beta,
    heap,
    aOff,
    lda,
    strideA,
    heap,
    bOff,
    ldb,
    strideB,
    heap,
    cOff,
    n,
    m * n,
  );
  return true;
}

function batchMatMul(tf: Tf, args: KernelArgs, fallback: KernelFunc): TensorInfo | TensorInfo[] {
  const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
  const transposeA = Boolean(args.attrs?.transposeA);
  const transposeB = Boolean(args.attrs?.transposeB);
  const backend = args.backend as BackendWasm;
  const plan = planMatMul(tf, a, b, transposeA, transposeB);
  if (!plan || !addon) return fallback(args);
  const out = backend.makeOutput(plan.outShape, 'float32');
  if (!runGemm(backend, plan, a, b, out, transposeA, transposeB, 0)) {
    backend.disposeData(out.dataId);
    return fallback(args);
  }
  return out;
}

// The stock wasm Sum reduces only trailing axes and transposes first otherwise: 2.4 ms for the column sums
// of a 1536×256 bias gradient, which the native loop does in a fraction of that.
function sumKernel(tf: Tf, args: KernelArgs, fallback: KernelFunc): TensorInfo | TensorInfo[] {
  const x = args.inputs.x as TensorInfo;
  const backend = args.backend as BackendWasm;
  const native = addon;
  if (!native || x.dtype !== 'float32') return fallback(args);
  const axis = args.attrs?.axis as number | number[] | undefined;
  const axes = (axis == null ? x.shape.map((_, i) => i) : tf.util.parseAxisParam(axis, x.shape)).sort(
    (p, q) => p - q,
  );
  const size = tf.util.sizeFromShape(x.shape);
  if (axes.length === 0 || size === 0) return fallback(args);
  // One contiguous block of axes [first, last] splits x into outer × mid × inner.
  const first = axes[0];
  const last = axes[axes.length - 1];
  if (last - first + 1 !== axes.length) return fallback(args);
  const outer = tf.util.sizeFromShape(x.shape.slice(0, first));
  const mid = tf.util.sizeFromShape(x.shape.slice(first, last + 1));
  const inner = tf.util.sizeFromShape(x.shape.slice(last + 1));
  const outShape = args.attrs?.keepDims
    ? x.shape.map((d, i) => (i >= first && i <= last ? 1 : d))
    : x.shape.filter((_, i) => i < first || i > last);
  const xOff = heapOffset(backend, x);
  if (xOff === null) return fallback(args);
  const out = backend.makeOutput(outShape, 'float32');
  const outOff = heapOffset(backend, out);
  if (outOff === null) {
    backend.disposeData(out.dataId);
    return fallback(args);
  }
  const heap = heapF32(backend);
  native.reduceSum(outer, mid, inner, heap, xOff, heap, outOff);
  return out;
}

// The stock wasm GatherV2 computes every output element's source index on its own: 7 ms for an embedding
// lookup of 1024 ids × 128 floats, which row copies do in tens of microseconds.
function gatherKernel(tf: Tf, args: KernelArgs, fallback: KernelFunc): TensorInfo | TensorInfo[] {
  const { x, indices } = args.inputs as { x: TensorInfo; indices: TensorInfo };
  const backend = args.backend as BackendWasm;
  const native = addon;
  if (!native || x.dtype !== 'float32' || indices.dtype !== 'int32' || x.shape.length < 1)
    return fallback(args);
  const axis = tf.util.parseAxisParam((args.attrs?.axis as number | undefined) ?? 0, x.shape)[0];
  if (axis !== 0 || Number(args.attrs?.batchDims ?? 0) !== 0) return fallback(args);
  const rows = x.shape[0];
  const cols = tf.util.sizeFromShape(x.shape.slice(1));
  const n = tf.util.sizeFromShape(indices.shape);
  const xOff = heapOffset(backend, x);
  const idsOff = heapOffset(backend, indices);
  if (xOff === null || idsOff === null || n === 0 || cols === 0) return fallback(args);
  const out = backend.makeOutput([...indices.shape, ...x.shape.slice(1)], 'float32');
  const outOff = heapOffset(backend, out);
  if (outOff === null) {
    backend.disposeData(out.dataId);
    return fallback(args);
  }
  const heap = heapF32(backend);
  const ids = new Int32Array(heap.buffer, heap.byteOffset, heap.length);
  try {
    native.gatherRows(n, cols, rows, heap, xOff, ids, idsOff, heap, outOff);
  } catch (e) {
    backend.disposeData(out.dataId);
    throw new Error(`GatherV2: ${(e as Error).message} (the gathered axis has ${rows} entries)`);
  }
  return out;
}

// tfjs fused activations, run with the backend's own kernels after the GEMM.
const ACTIVATION_KERNELS: Record<string, string> = {
  relu: 'Relu',
  relu6: 'Relu6',
  sigmoid: 'Sigmoid',
  elu: 'Elu',
  leakyrelu: 'LeakyRelu',
  prelu: 'Prelu',
};

/**
 * Starts every row of `out` (… × n) as the bias (n elements, or one broadcast), so that a GEMM with beta = 1
 * adds the product onto it. False, touching nothing, when an operand is off the heap.
 */
function fillBias(backend: BackendWasm, bias: TensorInfo, out: TensorInfo, n: number): boolean {
  const native = addon;
  const biasOff = heapOffset(backend, bias);
  const outOff = heapOffset(backend, out);
  if (!native || biasOff === null || outOff === null) return false;
  const heap = heapF32(backend);
  const size = out.shape.reduce((p, d) => p * d, 1);
  if (bias.shape.reduce((p, d) => p * d, 1) === 1) heap.fill(heap[biasOff], outOff, outOff + size);
  else native.fillRows(size / n, n, heap, biasOff, heap, outOff);
  return true;
}

/** The plan of one GEMM without batch dims: op(A) m × k, op(B) k × n. */
function singlePlan(m: number, n: number, k: number, outShape: number[]): MatMulPlan {
  return { m, n, k, batch: 1, strideA: 0, strideB: 0, outShape };
}

function fusedMatMul(tf: Tf, args: KernelArgs, fallback: KernelFunc): TensorInfo | TensorInfo[] {
  const { a, b, bias, preluActivationWeights } = args.inputs as {
    a: TensorInfo;
    b: TensorInfo;
    bias?: TensorInfo;
    preluActivationWeights?: TensorInfo;
  };
  const attrs = args.attrs ?? {};
  const transposeA = Boolean(attrs.transposeA);
  const transposeB = Boolean(attrs.transposeB);
  const activation = String(attrs.activation ?? 'linear');
  const backend = args.backend as BackendWasm;
  const plan = planMatMul(tf, a, b, transposeA, transposeB);
  const actKernel = activation === 'linear' ? null : ACTIVATION_KERNELS[activation];
  if (!plan || !addon || actKernel === undefined) return fallback(args);
  // A bias must broadcast along rows: a vector of n (or 1) elements.
  if (
    bias &&
    (bias.dtype !== 'float32' ||
      (tf.util.sizeFromShape(bias.shape) !== plan.n && tf.util.sizeFromShape(bias.shape) !== 1))
  )
    return fallback(args);
  if (bias && bias.shape.length > 1 && bias.shape.slice(0, -1).some((d) => d !== 1)) return fallback(args);
  const out = backend.makeOutput(plan.outShape, 'float32');
  if (bias && !fillBias(backend, bias, out, plan.n)) {
    backend.disposeData(out.dataId);
    return fallback(args);
  }
  if (!runGemm(backend, plan, a, b, out, transposeA, transposeB, bias ? 1 : 0)) {
    backend.disposeData(out.dataId);
    return fallback(args);
  }
  if (!actKernel) return out;
  const kernel = tf.getKernel(actKernel, BACKEND);
  if (!kernel) {
    backend.disposeData(out.dataId);
    return fallback(args);
  }
  const actInputs: Record<string, TensorInfo> = { x: out };
  if (activation === 'prelu') {
    if (!preluActivationWeights) {
      backend.disposeData(out.dataId);
      return fallback(args);
    }
    actInputs.alpha = preluActivationWeights;
  }
  const result = kernel.kernelFunc({
    inputs: actInputs as KernelArgs['inputs'],
    backend,
    attrs: activation === 'leakyrelu' ? { alpha: attrs.leakyreluAlpha ?? 0.2 } : {},
  }) as TensorInfo;
  backend.disposeData(out.dataId);
  return result;
}

// ---------------------------------------------------------------- optimizer kernels

type AnyTensor = Pick<tfjs.Tensor, 'dataId' | 'dtype' | 'size' | 'isDisposed'>;

/** Where a float32 tensor of the active wasm backend lives on the heap, or null. */
function wasmSpan(tf: Tf, t: AnyTensor): { heap: Float32Array; offset: number; backend: BackendWasm } | null {
  if (!addon || t.dtype !== 'float32' || t.isDisposed || tf.getBackend() !== BACKEND) return null;
  const backend = tf.backend() as unknown as BackendWasm;
  if (!backend.dataIdMap.has(t.dataId)) return null;
  const offset = heapOffset(backend, t as unknown as TensorInfo);
  return offset === null ? null : { heap: heapF32(backend), offset, backend };
}

/**
 * Gives a variable storage of its own before a kernel writes it in place, so that another tensor sharing it (a
 * live reshape or copy) keeps the values it had, as with assign().
 */
function ownStorage(tf: Tf, v: tfjs.Variable): void {
  const backend = tf.backend() as unknown as BackendWasm;
  if (backend.refCount(v.dataId) <= 1) return;
  // x·1 is exact: a private copy of the same values.
  const own = tf.tidy(() => tf.mul(v, 1));
  v.assign(own);
  own.dispose();
}

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Bias corrections 1 − β₁ᵗ and 1 − β₂ᵗ. */
  bc1: number;
  bc2: number;
  /** Multiplies the gradient first (global-norm clipping); 1 for none. */
  gradScale: number;
}

/**
 * One fused AdamW step (PyTorch's rule: w ← w·(1−lr·wd) − lr/bc1 · m / (√v/√bc2 + ε)). The moments `m`, `v`
 * are updated in place; the new weights go to fresh storage that `w` is then assigned, because the wasm
 * backend caches weights derived data (XNNPACK's packed conv filters) by tensor id, so a parameter must not
 * change under the same id. A moment whose storage is shared with another tensor (a live reshape or copy)
 * first gets storage of its own, so what the other holder sees never changes. Returns false, touching
 * nothing, when the native path cannot take it (addon or wasm backend not active, a dtype other than
 * float32, sizes that differ); the caller then runs its tensor-op update instead.
 */
export function nativeAdamW(
  tf: Tf,
  w: tfjs.Variable,
  g: AnyTensor,
  m: tfjs.Variable,
  v: tfjs.Variable,
  hp: AdamWHyper,
): boolean {
  const native = addon;
  if (!native) return false;
  const n = w.size;
  if (g.size !== n || m.size !== n || v.size !== n) return false;
  if (new Set([w, m, v]).size !== 3 || [w, m, v].some((t) => t.dataId === g.dataId)) return false;
  if (![w, g, m, v].every((t) => wasmSpan(tf, t))) return false;
  const backend = tf.backend() as unknown as BackendWasm;
  for (const t of [m, v]) ownStorage(tf, t);
  const out = backend.makeOutput(w.shape, 'float32');
  const spans = [w, out, g, m, v].map((t) => wasmSpan(tf, t as unknown as AnyTensor));
  if (spans.some((sp) => !sp)) {
    backend.disposeData(out.dataId);
    return false;
  }
  const [sw, so, sg, sm, sv] = spans as Array<NonNullable<(typeof spans)[number]>>;
  native.adamw(
    n,
    sw.heap,
    sw.offset,
    so.heap,
    so.offset,
    sg.heap,
    sg.offset,
    sm.heap,
    sm.offset,
    sv.heap,
    sv.offset,
    hp.lr,
    hp.beta1,
    hp.beta2,
    hp.eps,
    hp.weightDecay,
    hp.bc1,
    hp.bc2,
    hp.gradScale,
  );
  const next = tf.engine().makeTensorFromTensorInfo(out);
  w.assign(next);
  next.dispose();
  return true;
}

/**
 * One EMA step in place: shadow ← decay·shadow + (1 − decay)·w, in one parallel pass instead of three wasm
 * kernels. A shadow whose storage is shared with another tensor first gets storage of its own. Returns false,
 * touching nothing, when the native path cannot take it (the caller then runs its tensor-op update).
 */
export function nativeEmaUpdate(tf: Tf, shadow: tfjs.Variable, w: AnyTensor, decay: number): boolean {
  const native = addon;
  if (!native || shadow.size !== w.size || shadow.dataId === w.dataId) return false;
  if (!wasmSpan(tf, shadow) || !wasmSpan(tf, w)) return false;
  ownStorage(tf, shadow);
  const ss = wasmSpan(tf, shadow);
  const sw = wasmSpan(tf, w);
  if (!ss || !sw) return false;
  native.emaUpdate(shadow.size, ss.heap, ss.offset, sw.heap, sw.offset, decay);
  return true;
}

/** Σ x² of a float32 wasm tensor without creating tensors or reading it out; null when not available. */
export function nativeSumSquares(tf: Tf, x: AnyTensor): number | null {
  const native = addon;
  const span = native ? wasmSpan(tf, x) : null;
  return native && span ? native.sumSquares(x.size, span.heap, span.offset) : null;
}

// ---------------------------------------------------------------- fused ops

// Kernels of our own (no stock equivalent) that model code reaches through the native* functions below.
// Written from tfjs ops, GELU costs 7 elementwise kernels forward and about twice that backward, LayerNorm 8
// and ~20, LN+modulate and a gated residual several more plus broadcast-gradient reductions; each of these is
// one pass each way. They keep the addon they were registered with, so gradients of a forward pass still run
// if the addon is switched off in between.
const GELU = 'DditGeluTanh';
const GELU_GRAD = 'DditGeluTanhGrad';
const LAYER_NORM = 'DditLayerNorm';
const LAYER_NORM_GRAD = 'DditLayerNormGrad';
const ADA_LN = 'DditAdaLayerNorm';
const ADA_LN_GRAD = 'DditAdaLayerNormGrad';
const GATED_ADD = 'DditGatedAdd';
const GATED_ADD_GRAD = 'DditGatedAddGrad';
const ATTENTION = 'DditAttention';
const ATTENTION_GRAD = 'DditAttentionGrad';
const LINEAR = 'DditLinear';
const LINEAR_GRAD = 'DditLinearGrad';
const JOINT_ATTENTION = 'DditJointAttention';
const JOINT_ATTENTION_GRAD = 'DditJointAttentionGrad';

type Tensor = tfjs.Tensor;
type Attrs = KernelArgs['attrs'];

function registerFusedOps(tf: Tf): void {
  const native = addon;
  if (!native || tf.getKernel(GELU, BACKEND)) return;
  /**
   * A kernel over float32 heap tensors: allocates outputs of the given shapes, then `run(heap, offsets of
   * the inputs followed by the outputs, input shapes, attrs)`.
   */
  const kernel =
    (
      name: string,
      inputs: string[],
      outShapes: (shapes: number[][]) => number[][],
      run: (heap: Float32Array, offs: number[], shapes: number[][], attrs: Attrs) => void,
    ) =>
    (args: KernelArgs): TensorInfo | TensorInfo[] => {
      const backend = args.backend as BackendWasm;
      const ins = inputs.map((k) => args.inputs[k] as TensorInfo);
      if (ins.some((t) => !t || t.dtype !== 'float32')) throw new Error(`${name}: inputs must be float32`);
      const shapes = ins.map((t) => t.shape);
      const outs = outShapes(shapes).map((shape) => backend.makeOutput(shape, 'float32'));
      const offs = [...ins, ...outs].map((t) => heapOffset(backend, t));
      if (offs.some((o) => o === null)) {
        for (const o of outs) backend.disposeData(o.dataId);
        throw new Error(`${name}: operands are not on the wasm heap`);
      }
      run(heapF32(backend), offs as number[], shapes, args.attrs);
      return outs.length === 1 ? outs[0] : outs;
    };
  const size = (shape: number[]) => tf.util.sizeFromShape(shape);
  const last = (shape: number[]) => shape[shape.length - 1];
  const eps = (attrs: Attrs) => Number(attrs?.eps);
  // [B, T, D] token tensors against [B, D] per-sample vectors.
  const btd = (shape: number[]): [number, number, number] => [shape[0], shape[1], shape[2]];
  const kernels: Array<[string, KernelFunc]> = [
    [
      GELU,
      kernel(
        GELU,
        ['x'],
        (s) => [s[0]],
        (h, [x, y], s) => native.geluTanh(size(s[0]), h, x, h, y),
      ),
    ],
    [
      GELU_GRAD,
      kernel(
        GELU_GRAD,
        ['dy', 'x'],
        (s) => [s[1]],
        (h, [dy, x, dx], s) => native.geluTanhGrad(size(s[1]), h, dy, h, x, h, dx),
      ),
    ],
    [
      LAYER_NORM,
      kernel(
        LAYER_NORM,
        ['x'],
        (s) => [s[0]],
        (h, [x, y], s, a) => native.layerNorm(size(s[0]) / last(s[0]), last(s[0]), eps(a), h, x, h, y),
      ),
    ],
    [
      LAYER_NORM_GRAD,
      kernel(
        LAYER_NORM_GRAD,
        ['dy', 'x'],
        (s) => [s[1]],
        (h, [dy, x, dx], s, a) =>
          native.layerNormGrad(size(s[1]) / last(s[1]), last(s[1]), eps(a), h, dy, h, x, h, dx),
      ),
    ],
    [
      ADA_LN,
      kernel(
        ADA_LN,
        ['x', 'shift', 'scale'],
        (s) => [s[0]],
        (h, [x, sh, sc, y], s, a) => native.adaLayerNorm(...btd(s[0]), eps(a), h, x, h, sh, h, sc, h, y),
      ),
    ],
    [
      ADA_LN_GRAD,
      kernel(
        ADA_LN_GRAD,
        ['dy', 'x', 'scale'],
        (s) => [s[1], s[2], s[2]],
        (h, [dy, x, sc, dx, dsc, dsh], s, a) =>
          native.adaLayerNormGrad(...btd(s[1]), eps(a), h, dy, h, x, h, sc, h, dx, h, dsc, h, dsh),
      ),
    ],
    [
      GATED_ADD,
      kernel(
        GATED_ADD,
        ['x', 'gate', 'y'],
        (s) => [s[0]],
        (h, [x, g, y, z], s) => native.gatedAdd(...btd(s[0]), h, x, h, g, h, y, h, z),
      ),
    ],
    [
      GATED_ADD_GRAD,
      kernel(
        GATED_ADD_GRAD,
        ['dz', 'gate', 'y'],
        (s) => [s[2], s[1]],
        (h, [dz, g, y, dy, dg], s) => native.gatedAddGrad(...btd(s[2]), h, dz, h, g, h, y, h, dy, h, dg),
      ),
    ],
  ];
  // Dense layer x [..., in] · w [in, out] (+ b [out]) on the rows of x, whatever its rank (no reshapes), and its
  // gradient dx = dy·wᵀ, dw = xᵀ·dy, db = column sums of dy from one kernel call.
  const offHeap = (name: string, outs: TensorInfo[], backend: BackendWasm): Error => {
    for (const o of outs) backend.disposeData(o.dataId);
    return new Error(`${name}: operands are not on the wasm heap`);
  };
  const linearKernel = (args: KernelArgs): TensorInfo => {
    const backend = args.backend as BackendWasm;
    const { x, w, b } = args.inputs as { x: TensorInfo; w: TensorInfo; b?: TensorInfo };
    const [inF, outF] = w.shape;
    const outShape = [...x.shape.slice(0, -1), outF];
    const y = backend.makeOutput(outShape, 'float32');
    const plan = singlePlan(size(x.shape) / inF, outF, inF, outShape);
    if ((b && !fillBias(backend, b, y, outF)) || !runGemm(backend, plan, x, w, y, false, false, b ? 1 : 0))
      throw offHeap(LINEAR, [y], backend);
    return y;
  };
  const linearGradKernel = (args: KernelArgs): TensorInfo[] => {
    const backend = args.backend as BackendWasm;
    const { dy, x, w } = args.inputs as { dy: TensorInfo; x: TensorInfo; w: TensorInfo };
    const [inF, outF] = w.shape;
    const rows = size(x.shape) / inF;
    const outs = [x.shape, w.shape, ...(args.attrs?.bias ? [[outF]] : [])].map((shape) =>
      backend.makeOutput(shape, 'float32'),
    );
    const [dx, dw, db] = outs;
    const dyOff = heapOffset(backend, dy);
    const dbOff = db ? heapOffset(backend, db) : 0;
    if (
      dyOff === null ||
      dbOff === null ||
      !runGemm(backend, singlePlan(rows, inF, outF, x.shape), dy, w, dx, false, true, 0) ||
      !runGemm(backend, singlePlan(inF, outF, rows, w.shape), x, dy, dw, true, false, 0)
    )
      throw offHeap(LINEAR_GRAD, outs, backend);
    if (db) native.reduceSum(1, rows, outF, heapF32(backend), dyOff, heapF32(backend), dbOff);
    return outs;
  };
  kernels.push([LINEAR, linearKernel], [LINEAR_GRAD, linearGradKernel]);
  // Attention: [B,Lq,H·dh] tokens; attrs heads and scale. The bias input is optional, so these two assemble
  // their operands themselves.
  const attentionKernel =
    (name: string, grad: boolean) =>
    (args: KernelArgs): TensorInfo[] => {
      const backend = args.backend as BackendWasm;
      const get = (k: string) => args.inputs[k] as TensorInfo | undefined;
      const [q, k, v] = ['q', 'k', 'v'].map(get);
      const dout = grad ? get('dout') : undefined;
      const p = grad ? get('p') : undefined;
      const bias = grad ? undefined : get('bias');
      const ins = [q, k, v, ...(grad ? [dout, p] : bias ? [bias] : [])];
      if (ins.some((t) => !t || t.dtype !== 'float32')) throw new Error(`${name}: inputs must be float32`);
      const heads = Number(args.attrs?.heads);
      const [B, Lq, Dk] = q!.shape;
      const Lk = k!.shape[1];
      const Dv = v!.shape[2];
      const dims: AttentionDims = [B, heads, Lq, Lk, Dk / heads, Dv / heads, Number(args.attrs?.scale)];
      const withBias = grad ? Boolean(args.attrs?.bias) : !!bias;
      const outShapes = grad
        ? [q!.shape, k!.shape, v!.shape, ...(withBias ? [[heads, Lq, Lk]] : [])]
        : [
            [B, Lq, Dv],
            [B, heads, Lq, Lk],
          ];
      const outs = outShapes.map((shape) => backend.makeOutput(shape, 'float32'));
      const offs = [...ins, ...outs].map((t) => heapOffset(backend, t!));
      if (offs.some((o) => o === null)) {
        for (const o of outs) backend.disposeData(o.dataId);
        throw new Error(`${name}: operands are not on the wasm heap`);
      }
      const h = heapF32(backend);
      const o = offs as number[];
      if (!grad) {
        const [qo, ko, vo] = o;
        const [outO, pO] = o.slice(o.length - 2);
        native.attention(...dims, h, qo, h, ko, h, vo, bias ? h : null, bias ? o[3] : 0, h, outO, h, pO);
      } else {
        const [qo, ko, vo, dO, pO, dq, dk, dv, db] = o;
        native.attentionGrad(
          ...dims,
          h,
          dO,
          h,
          qo,
          h,
          ko,
          h,
          vo,
          h,
          pO,
          h,
          dq,
          h,
          dk,
          h,
          dv,
          withBias ? h : null,
          db ?? 0,
        );
      }
      return outs;
    };
  kernels.push(
    [ATTENTION, attentionKernel(ATTENTION, false)],
    [ATTENTION_GRAD, attentionKernel(ATTENTION_GRAD, true)],
  );
  // Joint attention: x [B,N,3D], c [B,M,3D]; attrs heads and scale.
  const joint = (shapes: number[][], a: Attrs): JointDims => {
    const heads = Number(a?.heads);
    const [B, N, D3] = shapes[0];
    return [B, heads, N, shapes[1][1], D3 / 3 / heads, Number(a?.scale)];
  };
  kernels.push(
    [
      JOINT_ATTENTION,
      kernel(
        JOINT_ATTENTION,
        ['x', 'c'],
        (s) => s.map((shape) => [shape[0], shape[1], shape[2] / 3]),
        (h, [x, c, ox, oc], s, a) => native.jointAttention(...joint(s, a), h, x, h, c, h, ox, h, oc),
      ),
    ],
    [
      JOINT_ATTENTION_GRAD,
      kernel(
        JOINT_ATTENTION_GRAD,
        ['dox', 'doc', 'x', 'c'],
        (s) => [s[2], s[3]],
        (h, [dox, doc, x, c, dx, dc], s, a) =>
          native.jointAttentionGrad(...joint([s[2], s[3]], a), h, dox, h, doc, h, x, h, c, h, dx, h, dc),
      ),
    ],
  );
  for (const [kernelName, kernelFunc] of kernels)
    tf.registerKernel({ kernelName, backendName: BACKEND, kernelFunc });
  const run = (name: string, inputs: Record<string, Tensor>, attrs: Attrs = {}) =>
    tf.engine().runKernel(name, inputs, attrs as Record<string, number>) as Tensor | Tensor[];
  tf.registerGradient({
    kernelName: GELU,
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => ({ x: () => run(GELU_GRAD, { dy: dy as Tensor, x: saved[0] }) as Tensor }),
  });
  tf.registerGradient({
    kernelName: LAYER_NORM,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => ({
      x: () => run(LAYER_NORM_GRAD, { dy: dy as Tensor, x: saved[0] }, attrs) as Tensor,
    }),
  });
  // Multi-input gradients come from one kernel call made here, outside the tape's per-input tidy scopes
  // (an output not handed out is freed with the rest of the backward pass).
  tf.registerGradient({
    kernelName: ADA_LN,
    inputsToSave: ['x', 'scale'],
    gradFunc: (dy, saved, attrs) => {
      const [dx, dscale, dshift] = run(
        ADA_LN_GRAD,
        { dy: dy as Tensor, x: saved[0], scale: saved[1] },
        attrs,
      ) as Tensor[];
      return { x: () => dx, shift: () => dshift, scale: () => dscale };
    },
  });
  tf.registerGradient({
    kernelName: JOINT_ATTENTION,
    inputsToSave: ['x', 'c'],
    gradFunc: (dys, saved, attrs) => {
      const [dox, doc] = dys as Tensor[];
      const [dx, dc] = run(JOINT_ATTENTION_GRAD, { dox, doc, x: saved[0], c: saved[1] }, attrs) as Tensor[];
      return { x: () => dx, c: () => dc };
    },
  });
  tf.registerGradient({
    kernelName: LINEAR,
    inputsToSave: ['x', 'w'],
    gradFunc: (dy, saved, attrs) => {
      const withBias = Boolean(attrs?.bias);
      const [dx, dw, db] = run(
        LINEAR_GRAD,
        { dy: dy as Tensor, x: saved[0], w: saved[1] },
        { bias: withBias ? 1 : 0 },
      ) as Tensor[];
      const grads: Record<string, () => Tensor> = { x: () => dx, w: () => dw };
      if (withBias) grads.b = () => db;
      return grads;
    },
  });
  tf.registerGradient({
    kernelName: GATED_ADD,
    inputsToSave: ['gate', 'y'],
    gradFunc: (dz, saved) => {
      const [dy, dgate] = run(GATED_ADD_GRAD, { dz: dz as Tensor, gate: saved[0], y: saved[1] }) as Tensor[];
      return { x: () => (dz as Tensor).clone(), gate: () => dgate, y: () => dy };
    },
  });
}

/**
 * x [..., in] · w [in, out] (+ b [out]) as one native GEMM on the rows of x (the bias rides in it), with a
 * one-kernel gradient; null where not available.
 */
export function nativeLinear(tf: Tf, x: Tensor, w: Tensor, b?: Tensor): Tensor | null {
  if (w.rank !== 2 || x.rank < 1 || (b && (b.rank !== 1 || b.size !== w.shape[1]))) return null;
  if (!fusedReady(tf, x, w, ...(b ? [b] : []))) return null;
  const inputs: Record<string, Tensor> = b ? { x, w, b } : { x, w };
  return tf.engine().runKernel(LINEAR, inputs, { bias: b ? 1 : 0 }) as Tensor;
}

/** Whether the fused kernels (all registered together) run here: the addon's kernels on the active wasm backend. */
export function nativeFusedActive(tf: Tf): boolean {
  return nativeMatMulActive(tf) && !!tf.getKernel(GELU, BACKEND);
}

function fusedReady(tf: Tf, ...ts: Tensor[]): boolean {
  return ts.every((t) => t.dtype === 'float32' && t.size > 0) && nativeFusedActive(tf);
}

/** GELU (tanh approximation) as one native pass each way, or null where the caller must use tfjs ops. */
export function nativeGeluTanh(tf: Tf, x: Tensor): Tensor | null {
  return fusedReady(tf, x) ? (tf.engine().runKernel(GELU, { x }) as Tensor) : null;
}

/** LayerNorm over the last axis without affine, as one native pass each way; null where not available. */
export function nativeLayerNorm(tf: Tf, x: Tensor, eps: number): Tensor | null {
  if (x.rank < 1 || !fusedReady(tf, x)) return null;
  return tf.engine().runKernel(LAYER_NORM, { x }, { eps }) as Tensor;
}

function samplesMatch(x: Tensor, ...perSample: Tensor[]): boolean {
  return (
    x.rank === 3 &&
    perSample.every((v) => v.rank === 2 && v.shape[0] === x.shape[0] && v.shape[1] === x.shape[2])
  );
}

/**
 * AdaLN: LayerNorm(x)·(1 + scale) + shift for tokens x [B,T,D] and per-sample shift/scale [B,D], one native
 * pass each way; null where not available (other shapes, no addon, not wasm).
 */
export function nativeAdaLayerNorm(
  tf: Tf,
  x: Tensor,
  shift: Tensor,
  scale: Tensor,
  eps: number,
): Tensor | null {
  if (!samplesMatch(x, shift, scale) || !fusedReady(tf, x, shift, scale)) return null;
  return tf.engine().runKernel(ADA_LN, { x, shift, scale }, { eps }) as Tensor;
}

/** Gated residual x + gate·y for tokens x, y [B,T,D] and a per-sample gate [B,D]; null where not available. */
export function nativeGatedAdd(tf: Tf, x: Tensor, gate: Tensor, y: Tensor): Tensor | null {
  if (!samplesMatch(x, gate) || !tf.util.arraysEqual(x.shape, y.shape) || !fusedReady(tf, x, gate, y))
    return null;
  return tf.engine().runKernel(GATED_ADD, { x, gate, y }) as Tensor;
}

/**
 * MM-DiT joint attention (image tokens, then text tokens) from each stream's fused q|k|v projection x [B,N,3D]
 * and c [B,M,3D] to each stream's output [B,N,D] and [B,M,D]: one native kernel each way, which gathers the
 * heads itself. Null where not available.
 */
export function nativeJointAttention(
  tf: Tf,
  x: Tensor,
  c: Tensor,
  heads: number,
  scale: number,
): [Tensor, Tensor] | null {
  if (x.rank !== 3 || c.rank !== 3 || !fusedReady(tf, x, c)) return null;
  return tf.engine().runKernel(JOINT_ATTENTION, { x, c }, { heads, scale }) as unknown as [Tensor, Tensor];
}

/**
 * softmax(q·kᵀ·scale + bias)·v over `heads` heads for q [B,Lq,D], k [B,Lk,D], v [B,Lk,Dv] and an optional bias
 * [H,Lq,Lk] shared by the batch: one native kernel each way, reading heads in place (no transposes). Null
 * where not available (no addon, not wasm, other dtypes).
 */
export function nativeAttention(
  tf: Tf,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  heads: number,
  scale: number,
  bias?: Tensor,
): Tensor | null {
  const operands = bias ? [q, k, v, bias] : [q, k, v];
  if (q.rank !== 3 || !fusedReady(tf, ...operands)) return null;
  const attrs = { heads, scale };
  const op = tf.customGrad((...args: Array<Tensor | tfjs.GradSaveFunc>) => {
    const save = args[args.length - 1] as tfjs.GradSaveFunc;
    const [qi, ki, vi, bi] = args.slice(0, -1) as Tensor[];
    const inputs: Record<string, Tensor> = { q: qi, k: ki, v: vi };
    if (bi) inputs.bias = bi;
    const [out, p] = tf.engine().runKernel(ATTENTION, inputs, attrs) as Tensor[];
    save([qi, ki, vi, p]);
    // save() keeps clones when the tape records; otherwise p is not needed at all.
    p.dispose();
    return {
      value: out,
      gradFunc: (dout: Tensor, saved: Tensor[]) => {
        const [sq, sk, sv, sp] = saved;
        const grads = tf
          .engine()
          .runKernel(
            ATTENTION_GRAD,
            { dout, q: sq, k: sk, v: sv, p: sp },
            { ...attrs, bias: bi ? 1 : 0 },
          ) as Tensor[];
        return grads;
      },
    };
  });
  return op(...operands);
}
