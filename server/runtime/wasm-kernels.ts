/**
 * Kernels that tfjs-backend-wasm 4.22 lacks or runs slowly, registered for 'wasm' by registerWasmKernels():
 * - Conv2DBackpropFilter: the weight gradient of conv2d and of conv2dTranspose. im2col written transposed
 *   (K×M, K = fh·fw·Cin, M = output pixels) straight into the wasm heap, then one rank-3 batch-1 BatchMatMul
 *   without transpose flags, the only matmul form that reaches XNNPACK (and its threads).
 * - UnsortedSegmentSum: the gradient of gather (embedding tables). A row-scatter-add loop on the heap.
 * - Slice, SplitV, Unpack: the stock kernels copy the whole input out of the heap for every output; these copy
 *   only the requested elements, as contiguous runs, inside the heap (copyWithin). String tensors keep the stock
 *   kernels.
 * - PadV2 (constant): the gradient of every slice; the stock kernel walks element by element, this one fills
 *   and copies contiguous runs.
 * - Identity, and Cast to the same dtype: the stock kernels copy. tfjs clones every tensor it saves for the
 *   backward pass, so a training step made ~1300 full copies; these share the storage by reference count, as
 *   Reshape (and the cpu backend's Identity) already do.
 */
import { tf } from './tf';

type Heap = { HEAPU8: Uint8Array; HEAPF32: Float32Array; HEAP32: Int32Array };

/** The parts of tfjs-backend-wasm's BackendWasm these kernels use. */
interface WasmBackend {
  wasm: Heap;
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: object): boolean;
}

type Args = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

const MARK = Symbol.for('ddit.runtime.wasmKernel');

function offsetOf(be: WasmBackend, t: tf.TensorInfo): number {
  return be.dataIdMap.get(t.dataId).memoryOffset;
}

function bytesPer(dtype: tf.DataType): number {
  return dtype === 'bool' ? 1 : 4;
}

/**
 * Copies x[begin : begin+size] into a new tensor of shape `outShape` (same element count), as runs that are
 * contiguous in x: the trailing axes taken whole plus the innermost axis taken partly.
 */
function copySlice(
  be: WasmBackend,
  x: tf.TensorInfo,
  begin: number[],
  size: number[],
  outShape: number[],
): tf.TensorInfo {
  const out = be.makeOutput(outShape, x.dtype);
  const n = tf.util.sizeFromShape(size);
  if (n === 0) return out;
  const bpe = bytesPer(x.dtype);
  const heap = be.wasm.HEAPU8; // read after makeOutput: an allocation may have grown (replaced) the heap
  const src0 = offsetOf(be, x);
  const dst0 = offsetOf(be, out);
  const rank = x.shape.length;
  const strides = [...tf.util.computeStrides(x.shape), 1];
  let run = 1;
  let k = rank - 1;
  while (k >= 0 && size[k] === x.shape[k]) run *= size[k--];
  if (k >= 0) run *= size[k];
  let base = 0;
  for (let i = 0; i < rank; i++) base += begin[i] * strides[i];
  if (k <= 0) {
    heap.copyWithin(dst0, src0 + base * bpe, src0 + (base + run) * bpe);
    return out;
  }
  // Odometer over the outer axes 0..k-1.
  const idx = new Array<number>(k).fill(0);
  const runBytes = run * bpe;
  let dst = dst0;
  for (;;) {
    let src = base;
    for (let i = 0; i < k; i++) src += idx[i] * strides[i];
    heap.copyWithin(dst, src0 + src * bpe, src0 + src * bpe + runBytes);
    dst += runBytes;
    let a = k - 1;
    while (a >= 0 && ++idx[a] === size[a]) idx[a--] = 0;
    if (a < 0) break;
  }
  return out;
}

/**
 * Constant padding: fill the output, then copy x in as runs that are contiguous in x (the trailing unpadded
 * axes whole plus the innermost padded axis). This is the gradient of every slice, so training pays it often;
 * the stock kernel walks element by element.
 */
function padKernel(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    const { paddings, constantValue } = args.attrs as unknown as {
      paddings: Array<[number, number]>;
      constantValue: number;
    };
    const n = tf.util.sizeFromShape(x.shape);
    if ((x.dtype !== 'float32' && x.dtype !== 'int32') || n === 0) return original(args);
    const be = args.backend as WasmBackend;
    const rank = x.shape.length;
    const outShape = x.shape.map((d, i) => paddings[i][0] + d + paddings[i][1]);
    const out = be.makeOutput(outShape, x.dtype);
    const heap = x.dtype === 'float32' ? be.wasm.HEAPF32 : be.wasm.HEAP32; // after makeOutput (heap growth)
    const src0 = offsetOf(be, x) / 4;
    const dst0 = offsetOf(be, out) / 4;
    heap.fill(constantValue, dst0, dst0 + tf.util.sizeFromShape(outShape));
    const outStrides = [...tf.util.computeStrides(outShape), 1];
    let run = 1;
    let k = rank - 1;
    while (k >= 0 && paddings[k][0] === 0 && paddings[k][1] === 0) run *= x.shape[k--];
    if (k < 0) {
      heap.copyWithin(dst0, src0, src0 + n);
      return out;
    }
    run *= x.shape[k];
    // Odometer over x's axes 0..k-1; each step copies one run.
    const idx = new Array<number>(k).fill(0);
    let src = src0;
    for (;;) {
      let dst = dst0 + paddings[k][0] * outStrides[k];
      for (let i = 0; i < k; i++) dst += (idx[i] + paddings[i][0]) * outStrides[i];
      heap.copyWithin(dst, src, src + run);
      src += run;
      let a = k - 1;
      while (a >= 0 && ++idx[a] === x.shape[a]) idx[a--] = 0;
      if (a < 0) break;
    }
    return out;
  };
}

function sliceKernel(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    if (x.dtype === 'string' || x.dtype === 'complex64') return original(args);
    const { begin, size } = args.attrs as unknown as { begin: number | number[]; size: number | number[] };
    const [b, s] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
    return copySlice(args.backend as WasmBackend, x, b, s, s);
  };
}

function splitKernel(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    if (x.dtype === 'string' || x.dtype === 'complex64') return original(args);
    const attrs = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
    const axis = tf.util.parseAxisParam(attrs.axis, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, attrs.numOrSizeSplits, axis);
    const begin = new Array<number>(x.shape.length).fill(0);
    const size = [...x.shape];
    return sizes.map((s) => {
      size[axis] = s;
      const out = copySlice(args.backend as WasmBackend, x, begin, size, [...size]);
      begin[axis] += s;
      return out;
    });
  };
}

function unpackKernel(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const value = args.inputs.value as tf.TensorInfo;
    if (value.dtype === 'string' || value.dtype === 'complex64') return original(args);
    const axis = tf.util.parseAxisParam((args.attrs as unknown as { axis: number }).axis, value.shape)[0];
    const outShape = value.shape.filter((_, i) => i !== axis);
    const begin = new Array<number>(value.shape.length).fill(0);
    const size = [...value.shape];
    size[axis] = 1;
    const outs: tf.TensorInfo[] = [];
    for (let i = 0; i < value.shape[axis]; i++) {
      begin[axis] = i;
      outs.push(copySlice(args.backend as WasmBackend, value, begin, size, [...outShape]));
    }
    return outs;
  };
}

/** Largest im2col block (floats) built at once; bigger problems are cut along the output pixels. */
let im2colBlock = 1 << 24;

/** Sets the im2col block size in floats (memory/speed trade-off; tests use tiny blocks to cover the cut path). */
export function setIm2colBlock(floats: number): void {
  if (!Number.isInteger(floats) || floats < 1) throw new Error(`im2col block must be a positive integer`);
  im2colBlock = floats;
}

function conv2dBackpropFilter({ inputs, backend, attrs }: Args): tf.TensorInfo {
  const be = backend as WasmBackend;
  const x = inputs.x as tf.TensorInfo;
  const dy = inputs.dy as tf.TensorInfo;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as {
    strides: [number, number] | number;
    pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
    dataFormat: 'NHWC' | 'NCHW';
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    filterShape: [number, number, number, number];
  };
  if (dataFormat === 'NCHW') throw new Error('Conv2DBackpropFilter (wasm): only NHWC is supported');
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new Error('Conv2DBackpropFilter (wasm): only float32 is supported');
  }
  const c = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = c;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = c;
  const top = c.padInfo.top;
  const left = c.padInfo.left;
  const K = fh * fw * inChannels;
  const M = batchSize * outHeight * outWidth;
  const result = be.makeOutput([...filterShape], 'float32');
  if (K === 0 || outChannels === 0) return result;
  if (M === 0) {
    be.wasm.HEAPF32.fill(0, offsetOf(be, result) / 4, offsetOf(be, result) / 4 + K * outChannels);
    return result;
  }
  const bmm = tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc;
  const block = Math.max(1, Math.min(M, Math.floor(im2colBlock / K)));
  const acc = block < M ? new Float32Array(K * outChannels) : null;
  const pixels = outHeight * outWidth;

  for (let m0 = 0; m0 < M; m0 += block) {
    const mb = Math.min(block, M - m0);
    const cols = be.makeOutput([1, K, mb], 'float32');
    let dyPart: tf.TensorInfo;
    let ownDyPart = false;
    if (mb === M) {
      dyPart = { dataId: dy.dataId, shape: [1, M, outChannels], dtype: 'float32' };
    } else {
      dyPart = be.makeOutput([1, mb, outChannels], 'float32');
      ownDyPart = true;
    }
    const f32 = be.wasm.HEAPF32;
    if (ownDyPart) {
      const from = offsetOf(be, dy) / 4 + m0 * outChannels;
      f32.copyWithin(offsetOf(be, dyPart) / 4, from, from + mb * outChannels);
    }
    const xo = offsetOf(be, x) / 4;
    const co = offsetOf(be, cols) / 4;
    // Source offset (relative to x) of the first channel of each output pixel's tap, or -1 in the padding.
    const src = new Int32Array(mb);
    for (let kh = 0; kh < fh; kh++) {
      for (let kw = 0; kw < fw; kw++) {
        for (let j = 0; j < mb; j++) {
          const m = m0 + j;
          const n = Math.floor(m / pixels);
          const p = m - n * pixels;
          const oy = Math.floor(p / outWidth);
          const ox = p - oy * outWidth;
          const iy = oy * sh + kh - top;
          const ix = ox * sw + kw - left;
          src[j] =
            iy < 0 || iy >= inHeight || ix < 0 || ix >= inWidth
              ? -1
              : ((n * inHeight + iy) * inWidth + ix) * inChannels;
        }
        const rowBase = co + (kh * fw + kw) * inChannels * mb;
        for (let ci = 0; ci < inChannels; ci++) {
          const row = rowBase + ci * mb;
          const xc = xo + ci;
          for (let j = 0; j < mb; j++) {
            const s = src[j];
            f32[row + j] = s < 0 ? 0 : f32[xc + s];
          }
        }
      }
    }
    const prod = bmm({
      inputs: { a: cols, b: dyPart },
      backend: backend as tf.KernelBackend,
      attrs: { transposeA: false, transposeB: false },
    }) as tf.TensorInfo;
    const heap = be.wasm.HEAPF32;
    const po = offsetOf(be, prod) / 4;
    if (acc) {
      for (let i = 0; i < acc.length; i++) acc[i] += heap[po + i];
    } else {
      heap.copyWithin(offsetOf(be, result) / 4, po, po + K * outChannels);
    }
    be.disposeData(prod.dataId);
    be.disposeData(cols.dataId);
    if (ownDyPart) be.disposeData(dyPart.dataId);
  }
  if (acc) be.wasm.HEAPF32.set(acc, offsetOf(be, result) / 4);
  return result;
}

function unsortedSegmentSum({ inputs, backend, attrs }: Args): tf.TensorInfo {
  const be = backend as WasmBackend;
  const x = inputs.x as tf.TensorInfo;
  const ids = inputs.segmentIds as tf.TensorInfo;
  const numSegments = (attrs as unknown as { numSegments: number }).numSegments;
  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    throw new Error(`UnsortedSegmentSum (wasm): dtype ${x.dtype} is not supported`);
  }
  if (ids.dtype !== 'int32') throw new Error('UnsortedSegmentSum (wasm): segmentIds must be int32');
  const idRank = ids.shape.length;
  if (!ids.shape.every((d, i) => d === x.shape[i])) {
    throw new Error(
      `UnsortedSegmentSum (wasm): segmentIds shape [${ids.shape}] must be a prefix of x shape [${x.shape}]`,
    );
  }
  const count = tf.util.sizeFromShape(ids.shape);
  const rowShape = x.shape.slice(idRank);
  const inner = tf.util.sizeFromShape(rowShape);
  const out = be.makeOutput([numSegments, ...rowShape], x.dtype);
  const heap = x.dtype === 'float32' ? be.wasm.HEAPF32 : be.wasm.HEAP32;
  const i32 = be.wasm.HEAP32;
  const oo = offsetOf(be, out) / 4;
  const xo = offsetOf(be, x) / 4;
  const io = offsetOf(be, ids) / 4;
  heap.fill(0, oo, oo + numSegments * inner);
  for (let i = 0; i < count; i++) {
    const id = i32[io + i];
    if (id < 0) continue; // TensorFlow drops negative ids
    if (id >= numSegments) {
      be.disposeData(out.dataId);
      throw new Error(`UnsortedSegmentSum (wasm): segment id ${id} is not below numSegments=${numSegments}`);
    }
    const d = oo + id * inner;
    const s = xo + i * inner;
    for (let j = 0; j < inner; j++) heap[d + j] += heap[s + j];
  }
  return out;
}

function shareKernel(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const x = args.inputs.x as tf.TensorInfo;
    const dtype = args.attrs?.dtype;
    if (x.dtype === 'string' || (dtype !== undefined && dtype !== x.dtype)) return original(args);
    (args.backend as { incRef(dataId: object): void }).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
  };
}

function isOurs(name: string): boolean {
  const k = tf.getKernel(name, 'wasm');
  return !!k && (k.kernelFunc as unknown as Record<symbol, boolean>)[MARK] === true;
}

function register(
  name: string,
  make: (original: tf.KernelFunc | null) => tf.KernelFunc,
  replace: boolean,
): void {
  if (isOurs(name)) return;
  const existing = tf.getKernel(name, 'wasm');
  if (existing && !replace) return; // a newer tfjs that ships the kernel keeps its own
  if (existing) tf.unregisterKernel(name, 'wasm');
  const fn = make(existing ? existing.kernelFunc : null);
  (fn as unknown as Record<symbol, boolean>)[MARK] = true;
  tf.registerKernel({
    kernelName: name,
    backendName: 'wasm',
    kernelFunc: fn,
    setupFunc: existing?.setupFunc,
    disposeFunc: existing?.disposeFunc,
  });
}

/** Registers the kernels above for 'wasm' (idempotent). Call once the wasm backend module is loaded. */
export function registerWasmKernels(): void {
  register('Conv2DBackpropFilter', () => conv2dBackpropFilter as tf.KernelFunc, false);
  register('UnsortedSegmentSum', () => unsortedSegmentSum as tf.KernelFunc, false);
  register('Slice', (orig) => sliceKernel(orig!), true);
  register('SplitV', (orig) => splitKernel(orig!), true);
  register('Unpack', (orig) => unpackKernel(orig!), true);
  register('PadV2', (orig) => padKernel(orig!), true);
  register('Identity', (orig) => shareKernel(orig!), true);
  register('Cast', (orig) => shareKernel(orig!), true);
}

/** Names of the kernels registerWasmKernels() supplies (for runtime reports and tests). */
export const SUPPLIED_WASM_KERNELS = [
  'Conv2DBackpropFilter',
  'UnsortedSegmentSum',
  'Slice',
  'SplitV',
  'Unpack',
  'PadV2',
  'Identity',
  'Cast',
];
