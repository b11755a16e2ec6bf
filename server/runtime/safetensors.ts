/**
 * safetensors reading and writing (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
 * length, a JSON header ({name: {dtype, shape, data_offsets}}, plus an optional "__metadata__" string map), then
 * the raw little-endian tensor bytes.
 *
 * Three layers:
 * - raw: parseSafetensorsHeader / decodeSafetensors / encodeSafetensors work on bytes and typed arrays
 *   (F16 and BF16 are kept as Uint16Array bit patterns, I64 as BigInt64Array);
 * - tfjs: rawToTensor / tensorToRaw convert (16-bit floats become float32 tensors; writing may down-cast);
 * - files: SafetensorsFile reads the header only and then single tensors on demand; loadSafetensors /
 *   saveSafetensors handle whole files, and saving is atomic (temp file in the same folder, then rename).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { tf } from './tf';
import { decodeBf16, decodeF16, encodeBf16, encodeF16 } from './half';

export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** Typed array holding a tensor's elements: F16/BF16 as bit patterns, BOOL as 0/1 bytes. */
export type RawData =
  | Float64Array
  | Float32Array
  | Uint16Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array;

export interface RawTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: RawData;
}

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Byte range relative to the start of the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  metadata: Record<string, string>;
  /** In file order (ascending offsets). */
  tensors: TensorInfo[];
  /** Absolute byte offset of the data section (8 + header length). */
  dataStart: number;
}

/** Float dtypes a float32 tensor may be stored as. */
export type FloatStorage = 'F32' | 'F16' | 'BF16';

export type TensorLike = tf.Tensor | RawTensor;

export interface SaveOptions {
  metadata?: Record<string, string>;
  /** Storage dtype for float32 tfjs tensors (default F32). Raw tensors keep their own dtype. */
  dtype?: FloatStorage;
}

export class SafetensorsError extends Error {
  constructor(source: string, message: string) {
    super(`safetensors (${source}): ${message}`);
    this.name = 'SafetensorsError';
  }
}

const ELEMENT_BYTES: Record<SafetensorsDtype, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

const ARRAY_FOR: Record<
  SafetensorsDtype,
  { new (b: ArrayBufferLike, o: number, n: number): RawData; new (n: number): RawData }
> = {
  F64: Float64Array,
  F32: Float32Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  I64: BigInt64Array,
  I32: Int32Array,
  I16: Int16Array,
  I8: Int8Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
};

/** The reference implementation refuses headers above 100 MB; so do we (a corrupt length would allocate GBs). */
const MAX_HEADER_BYTES = 100_000_000;

if (os.endianness() !== 'LE') throw new Error('safetensors: only little-endian hosts are supported');

export function elementBytes(dtype: SafetensorsDtype): number {
  return ELEMENT_BYTES[dtype];
}

function isDtype(v: unknown): v is SafetensorsDtype {
  return typeof v === 'string' && Object.prototype.hasOwnProperty.call(ELEMENT_BYTES, v);
}

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Reads the header length from the first 8 bytes and checks it against the available size. */
function readHeaderLength(first8: Uint8Array, totalSize: number, source: string): number {
  if (first8.length < 8 || totalSize < 8) {
    throw new SafetensorsError(source, `too short to be a safetensors file (${totalSize} bytes)`);
  }
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(
      source,
      `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit (corrupt file?)`,
    );
  }
  const len = Number(n);
  if (8 + len > totalSize) {
    throw new SafetensorsError(
      source,
      `header length ${len} runs past the end of the data (${totalSize} bytes)`,
    );
  }
  return len;
}

/**
 * Parses and validates a header. `headerBytes` is the JSON text; `dataBytes` the size of everything after it.
 * Every entry must have a known dtype, a shape of non-negative integers, and a byte range matching that shape,
 * inside the data section and overlapping no other tensor.
 */
function parseHeaderJson(
  headerBytes: Uint8Array,
  dataStart: number,
  dataBytes: number,
  source: string,
): SafetensorsHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsError(source, 'header is not valid UTF-8');
  }
  if (!text.startsWith('{')) throw new SafetensorsError(source, 'header does not start with "{"');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(source, `header is not valid JSON: ${(e as Error).message}`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new SafetensorsError(source, 'header is not a JSON object');
  }
  const metadata: Record<string, string> = {};
  const tensors: TensorInfo[] = [];
  for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
        throw new SafetensorsError(source, '__metadata__ must be an object of strings');
      }
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') throw new SafetensorsError(source, `__metadata__["${k}"] is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const where = `tensor "${name}"`;
    if (entry === null || typeof entry !== 'object')
      throw new SafetensorsError(source, `${where}: not an object`);
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (!isDtype(dtype))
      throw new SafetensorsError(source, `${where}: unsupported dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new SafetensorsError(source, `${where}: shape must be an array of non-negative integers`);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[1] < offsets[0]
    ) {
      throw new SafetensorsError(
        source,
        `${where}: data_offsets must be [begin, end] with 0 <= begin <= end`,
      );
    }
    const [begin, end] = offsets as number[];
    const expected = numel(shape) * ELEMENT_BYTES[dtype];
    if (end - begin !== expected) {
      throw new SafetensorsError(
        source,
        `${where}: ${end - begin} bytes for shape [${shape.join(',')}] of ${dtype} (expected ${expected})`,
      );
    }
    if (end > dataBytes) {
      throw new SafetensorsError(
        source,
        `${where}: data ends at ${end}, past the ${dataBytes}-byte data section`,
      );
    }
    tensors.push({ name, dtype, shape: [...shape], begin, end });
  }
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let reach: TensorInfo | null = null; // the non-empty tensor reaching furthest so far
  for (const cur of tensors) {
    if (cur.end === cur.begin) continue;
    if (reach && cur.begin < reach.end) {
      throw new SafetensorsError(source, `tensors "${reach.name}" and "${cur.name}" overlap`);
    }
    if (!reach || cur.end > reach.end) reach = cur;
  }
  return { metadata, tensors, dataStart };
}

/** Parses the header of a complete safetensors buffer (no tensor data is copied). */
export function parseSafetensorsHeader(bytes: Uint8Array, source = 'buffer'): SafetensorsHeader {
  const len = readHeaderLength(bytes.subarray(0, 8), bytes.length, source);
  return parseHeaderJson(bytes.subarray(8, 8 + len), 8 + len, bytes.length - 8 - len, source);
}

/** A typed view on `bytes[begin, end)`, copied only when the offset is misaligned for the element type. */
function viewOf(dtype: SafetensorsDtype, bytes: Uint8Array, begin: number, end: number): RawData {
  const size = ELEMENT_BYTES[dtype];
  const n = (end - begin) / size;
  const abs = bytes.byteOffset + begin;
  if (abs % size === 0) return new ARRAY_FOR[dtype](bytes.buffer, abs, n);
  const copy = new Uint8Array(end - begin);
  copy.set(bytes.subarray(begin, end));
  return new ARRAY_FOR[dtype](copy.buffer, 0, n);
}

/** Decodes a whole buffer into raw tensors; the typed arrays are views on `bytes` where alignment allows. */
export function decodeSafetensors(
  bytes: Uint8Array,
  source = 'buffer',
): { metadata: Record<string, string>; tensors: Record<string, RawTensor> } {
  const header = parseSafetensorsHeader(bytes, source);
  const data = bytes.subarray(header.dataStart);
  const tensors: Record<string, RawTensor> = {};
  for (const t of header.tensors) {
    tensors[t.name] = { dtype: t.dtype, shape: t.shape, data: viewOf(t.dtype, data, t.begin, t.end) };
  }
  return { metadata: header.metadata, tensors };
}

function checkRaw(name: string, t: RawTensor): void {
  if (!isDtype(t.dtype))
    throw new SafetensorsError('encode', `tensor "${name}": unsupported dtype ${t.dtype}`);
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new SafetensorsError('encode', `tensor "${name}": bad shape [${t.shape.join(',')}]`);
  }
  if (!(t.data instanceof ARRAY_FOR[t.dtype])) {
    throw new SafetensorsError(
      'encode',
      `tensor "${name}": ${t.dtype} data must be a ${ARRAY_FOR[t.dtype].name}`,
    );
  }
  if (t.data.length !== numel(t.shape)) {
    throw new SafetensorsError(
      'encode',
      `tensor "${name}": ${t.data.length} elements for shape [${t.shape.join(',')}] (expected ${numel(t.shape)})`,
    );
  }
}

/**
 * Encodes raw tensors into a safetensors buffer. Tensors are laid out widest element first (then in the order
 * given) and the header is space-padded to a multiple of 8, so every tensor is aligned for typed-array views.
 */
export function encodeSafetensors(
  tensors: Record<string, RawTensor>,
  metadata?: Record<string, string>,
): Buffer {
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    if (name === '__metadata__') throw new SafetensorsError('encode', '"__metadata__" is reserved');
    checkRaw(name, t);
  }
  const order = entries
    .map((e, i) => ({ e, i }))
    .sort((a, b) => ELEMENT_BYTES[b.e[1].dtype] - ELEMENT_BYTES[a.e[1].dtype] || a.i - b.i)
    .map((x) => x.e);
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError('encode', `metadata "${k}" must be a string`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const [name, t] of order) {
    const bytes = t.data.byteLength;
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - ((8 + json.length) % 8)) % 8;
  if (pad > 0) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const out = Buffer.alloc(8 + json.length + offset);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  let pos = 8 + json.length;
  for (const [, t] of order) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    pos += t.data.byteLength;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// tfjs conversion

/** Owns its buffer: tfjs backends may keep the array they are given, which must not pin a whole file buffer. */
function owned<T extends RawData>(a: T): T {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : (a.slice() as T);
}

/**
 * Converts a raw tensor to tfjs: every float dtype becomes float32, integers become int32 (I64 values must fit
 * in int32), BOOL becomes bool.
 */
export function rawToTensor(raw: RawTensor, name = 'tensor'): tf.Tensor {
  const { shape, data } = raw;
  switch (raw.dtype) {
    case 'F32':
      return tf.tensor(owned(data as Float32Array), shape, 'float32');
    case 'F16':
      return tf.tensor(decodeF16(data as Uint16Array), shape, 'float32');
    case 'BF16':
      return tf.tensor(decodeBf16(data as Uint16Array), shape, 'float32');
    case 'F64':
      return tf.tensor(Float32Array.from(data as Float64Array), shape, 'float32');
    case 'I32':
      return tf.tensor(owned(data as Int32Array), shape, 'int32');
    case 'I16':
    case 'I8':
    case 'U8':
      return tf.tensor(Int32Array.from(data as Int16Array), shape, 'int32');
    case 'BOOL':
      return tf.tensor(
        Uint8Array.from(data as Uint8Array, (v) => (v ? 1 : 0)),
        shape,
        'bool',
      );
    case 'I64': {
      const src = data as BigInt64Array;
      const out = new Int32Array(src.length);
      for (let i = 0; i < src.length; i++) {
        const v = src[i];
        if (v > 2147483647n || v < -2147483648n) {
          throw new SafetensorsError(
            'load',
            `"${name}": I64 value ${v} does not fit in int32 (tfjs has no int64)`,
          );
        }
        out[i] = Number(v);
      }
      return tf.tensor(out, shape, 'int32');
    }
  }
}

/** Converts a tfjs tensor to a raw tensor; float32 is stored as `floatDtype` (default F32). */
export function tensorToRaw(t: tf.Tensor, floatDtype: FloatStorage = 'F32', name = 'tensor'): RawTensor {
  if (t.isDisposed) throw new SafetensorsError('save', `"${name}": tensor is disposed`);
  const shape = [...t.shape];
  switch (t.dtype) {
    case 'float32': {
      const v = t.dataSync() as Float32Array;
      if (floatDtype === 'F16') return { dtype: 'F16', shape, data: encodeF16(v) };
      if (floatDtype === 'BF16') return { dtype: 'BF16', shape, data: encodeBf16(v) };
      return { dtype: 'F32', shape, data: v };
    }
    case 'int32':
      return { dtype: 'I32', shape, data: t.dataSync() as Int32Array };
    case 'bool':
      return { dtype: 'BOOL', shape, data: Uint8Array.from(t.dataSync() as Uint8Array) };
    default:
      throw new SafetensorsError('save', `"${name}": dtype ${t.dtype} cannot be stored in safetensors`);
  }
}

function toRawRecord(
  tensors: Record<string, TensorLike>,
  dtype: FloatStorage | undefined,
): Record<string, RawTensor> {
  const out: Record<string, RawTensor> = {};
  for (const [name, t] of Object.entries(tensors)) {
    out[name] = t instanceof tf.Tensor ? tensorToRaw(t, dtype ?? 'F32', name) : t;
  }
  return out;
}

export interface LoadedTensors {
  metadata: Record<string, string>;
  tensors: Record<string, tf.Tensor>;
}

function toTensors(raw: Record<string, RawTensor>): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  try {
    for (const [name, r] of Object.entries(raw)) out[name] = rawToTensor(r, name);
  } catch (e) {
    for (const t of Object.values(out)) t.dispose();
    throw e;
  }
  return out;
}

/** Buffer → tfjs tensors (caller owns and disposes them). */
export function loadSafetensorsBuffer(bytes: Uint8Array, source = 'buffer'): LoadedTensors {
  const { metadata, tensors } = decodeSafetensors(bytes, source);
  return { metadata, tensors: toTensors(tensors) };
}

/** tfjs (or raw) tensors → buffer. */
export function saveSafetensorsBuffer(tensors: Record<string, TensorLike>, opts: SaveOptions = {}): Buffer {
  return encodeSafetensors(toRawRecord(tensors, opts.dtype), opts.metadata);
}

// ---------------------------------------------------------------------------------------------------------------
// files

function readFully(fd: number, target: Uint8Array, position: number, file: string): void {
  let done = 0;
  while (done < target.length) {
    const n = fs.readSync(fd, target, done, target.length - done, position + done);
    if (n === 0) throw new SafetensorsError(file, `unexpected end of file at byte ${position + done}`);
    done += n;
  }
}

/**
 * An open safetensors file of which only the header has been read. Tensors are read one at a time with a single
 * positioned read each, so a loader can pick names, check shapes and read only what it needs.
 */
export class SafetensorsFile {
  readonly metadata: Record<string, string>;
  readonly fileSize: number;
  private readonly byName = new Map<string, TensorInfo>();
  private fd: number | null;

  private constructor(
    readonly path: string,
    fd: number,
    private readonly header: SafetensorsHeader,
    size: number,
  ) {
    this.fd = fd;
    this.metadata = header.metadata;
    this.fileSize = size;
    for (const t of header.tensors) this.byName.set(t.name, t);
  }

  static open(file: string): SafetensorsFile {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const first = new Uint8Array(Math.min(8, size));
      readFully(fd, first, 0, file);
      const len = readHeaderLength(first, size, file);
      const headerBytes = new Uint8Array(len);
      readFully(fd, headerBytes, 8, file);
      const header = parseHeaderJson(headerBytes, 8 + len, size - 8 - len, file);
      return new SafetensorsFile(file, fd, header, size);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /** Tensor names in file order. */
  names(): string[] {
    return this.header.tensors.map((t) => t.name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** dtype, shape and byte range of one tensor, without reading it. */
  info(name: string): TensorInfo {
    const t = this.byName.get(name);
    if (!t) throw new SafetensorsError(this.path, `no tensor named "${name}"`);
    return t;
  }

  /** All entries (file order). */
  list(): readonly TensorInfo[] {
    return this.header.tensors;
  }

  readRaw(name: string): RawTensor {
    if (this.fd === null) throw new SafetensorsError(this.path, 'file is closed');
    const t = this.info(name);
    // A fresh ArrayBuffer is always aligned, unlike Buffer.allocUnsafe's pool.
    const bytes = new Uint8Array(t.end - t.begin);
    readFully(this.fd, bytes, this.header.dataStart + t.begin, this.path);
    return { dtype: t.dtype, shape: t.shape, data: viewOf(t.dtype, bytes, 0, bytes.length) };
  }

  readTensor(name: string): tf.Tensor {
    return rawToTensor(this.readRaw(name), name);
  }

  /** Reads every tensor (or those `filter` keeps) into tfjs. */
  readAll(filter?: (info: TensorInfo) => boolean): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    try {
      for (const t of this.header.tensors) if (!filter || filter(t)) out[t.name] = this.readTensor(t.name);
    } catch (e) {
      for (const v of Object.values(out)) v.dispose();
      throw e;
    }
    return out;
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

/** Lists names, shapes, dtypes and metadata of a file without reading tensor data. */
export function inspectSafetensors(file: string): {
  metadata: Record<string, string>;
  tensors: TensorInfo[];
} {
  const f = SafetensorsFile.open(file);
  try {
    return { metadata: f.metadata, tensors: [...f.list()] };
  } finally {
    f.close();
  }
}

/** Reads a whole file into tfjs tensors (caller owns and disposes them). */
export function loadSafetensors(file: string, filter?: (info: TensorInfo) => boolean): LoadedTensors {
  const f = SafetensorsFile.open(file);
  try {
    return { metadata: f.metadata, tensors: f.readAll(filter) };
  } finally {
    f.close();
  }
}

/** Writes `data` to `file` atomically: a temp file in the same folder, fsync, then rename over the target. */
export async function writeFileAtomic(file: string, data: Uint8Array): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(
    dir,
    `.${path.basename(file)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`,
  );
  const handle = await fs.promises.open(tmp, 'wx');
  try {
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.promises.rename(tmp, file);
  } catch (e) {
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
}

/** Saves tfjs (or raw) tensors to a safetensors file, atomically. */
export async function saveSafetensors(
  file: string,
  tensors: Record<string, TensorLike>,
  opts: SaveOptions = {},
): Promise<void> {
  await writeFileAtomic(file, saveSafetensorsBuffer(tensors, opts));
}
