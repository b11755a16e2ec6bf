import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { tf } from '../../../server/runtime/tf';
import {
  RawTensor,
  SafetensorsError,
  SafetensorsFile,
  decodeSafetensors,
  elementBytes,
  encodeSafetensors,
  inspectSafetensors,
  loadSafetensors,
  loadSafetensorsBuffer,
  parseSafetensorsHeader,
  saveSafetensors,
  saveSafetensorsBuffer,
} from '../../../server/runtime/safetensors';
import { f32ToBf16, f32ToF16, f16ToF32, bf16ToF32 } from '../../../server/runtime/half';

/** Builds a file from a header object and data bytes, as another writer would. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0)): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const out = Buffer.alloc(8 + json.length + data.length);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  out.set(data, 8 + json.length);
  return out;
}

const everyDtype: Record<string, RawTensor> = {
  f64: { dtype: 'F64', shape: [2], data: Float64Array.of(Math.PI, -1e300) },
  f32: { dtype: 'F32', shape: [2, 3], data: Float32Array.of(1, -2.5, 3e-38, Infinity, -0, 7) },
  f16: { dtype: 'F16', shape: [3], data: Uint16Array.of(0x3c00, 0x0001, 0xfc00) },
  bf16: { dtype: 'BF16', shape: [1, 2], data: Uint16Array.of(0x3f80, 0xc049) },
  i64: { dtype: 'I64', shape: [2], data: BigInt64Array.of(-5n, 1n << 40n) },
  i32: { dtype: 'I32', shape: [3], data: Int32Array.of(-2147483648, 0, 2147483647) },
  i16: { dtype: 'I16', shape: [2], data: Int16Array.of(-32768, 32767) },
  i8: { dtype: 'I8', shape: [3], data: Int8Array.of(-128, 0, 127) },
  u8: { dtype: 'U8', shape: [5], data: Uint8Array.of(0, 1, 2, 254, 255) },
  bool: { dtype: 'BOOL', shape: [2], data: Uint8Array.of(1, 0) },
  scalar: { dtype: 'F32', shape: [], data: Float32Array.of(42) },
  empty: { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
};

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-test-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('raw encode/decode', () => {
  it('round-trips every dtype, scalars and empty tensors, with metadata', () => {
    const buf = encodeSafetensors(everyDtype, { format: 'pt', note: 'ünïcode' });
    const { metadata, tensors } = decodeSafetensors(buf);
    expect(metadata).toEqual({ format: 'pt', note: 'ünïcode' });
    expect(Object.keys(tensors).sort()).toEqual(Object.keys(everyDtype).sort());
    for (const [name, t] of Object.entries(everyDtype)) {
      expect(tensors[name].dtype).toBe(t.dtype);
      expect(tensors[name].shape).toEqual(t.shape);
      expect(tensors[name].data.constructor).toBe(t.data.constructor);
      expect(Array.from(tensors[name].data as ArrayLike<unknown>)).toEqual(
        Array.from(t.data as ArrayLike<unknown>),
      );
    }
  });

  it('pads the header so tensor data is 8-byte aligned, and views need no copy', () => {
    const buf = encodeSafetensors(everyDtype);
    const n = Number(buf.readBigUInt64LE(0));
    expect((8 + n) % 8).toBe(0);
    const header = parseSafetensorsHeader(buf);
    for (const t of header.tensors) expect(t.begin % elementBytes(t.dtype)).toBe(0);
    const { tensors } = decodeSafetensors(buf);
    expect(tensors.f64.data.buffer).toBe(buf.buffer);
  });

  it('reads a file written by another writer (unpadded header, misaligned buffer)', () => {
    const data = Buffer.alloc(16 + 2);
    [1, 2, 3, 4].forEach((v, i) => data.writeInt32LE(v, i * 4));
    data.writeUInt16LE(0x4000, 16);
    const file = rawFile(
      {
        __metadata__: { foo: 'bar' },
        half: { dtype: 'F16', shape: [1], data_offsets: [16, 18] },
        test: { dtype: 'I32', shape: [2, 2], data_offsets: [0, 16] },
      },
      data,
    );
    const shifted = new Uint8Array(file.length + 1).subarray(1); // odd byteOffset: views must copy
    shifted.set(file);
    const { metadata, tensors } = decodeSafetensors(shifted);
    expect(metadata).toEqual({ foo: 'bar' });
    expect(Array.from(tensors.test.data as Int32Array)).toEqual([1, 2, 3, 4]);
    expect(f16ToF32((tensors.half.data as Uint16Array)[0])).toBe(2);
    expect(parseSafetensorsHeader(shifted).tensors.map((t) => t.name)).toEqual(['test', 'half']);
  });
});

describe('corrupt input', () => {
  const f32 = (offsets: number[], shape = [2]) => ({ dtype: 'F32', shape, data_offsets: offsets });
  const cases: [string, Uint8Array, RegExp][] = [
    ['too short', Buffer.from([1, 2, 3]), /too short/],
    [
      'huge header length',
      (() => {
        const b = Buffer.alloc(16);
        b.writeBigUInt64LE(1n << 40n, 0);
        return b;
      })(),
      /exceeds the 100000000-byte limit/,
    ],
    [
      'header past end',
      (() => {
        const b = Buffer.alloc(16);
        b.writeBigUInt64LE(100n, 0);
        return b;
      })(),
      /runs past the end/,
    ],
    ['not JSON', (() => rawFile({}).fill(0x7b, 8))(), /not valid JSON/],
    ['not an object', rawFile([1, 2]), /does not start with "\{"/],
    [
      'bad dtype',
      rawFile({ a: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)),
      /dtype "Q4"/,
    ],
    ['bad shape', rawFile({ a: f32([0, 8], [-2]) }, new Uint8Array(8)), /shape must be/],
    [
      'size mismatch',
      rawFile({ a: f32([0, 12]) }, new Uint8Array(12)),
      /12 bytes for shape \[2\] of F32 \(expected 8\)/,
    ],
    ['out of range', rawFile({ a: f32([8, 16]) }, new Uint8Array(12)), /past the 12-byte data section/],
    ['reversed offsets', rawFile({ a: f32([8, 0]) }, new Uint8Array(8)), /data_offsets/],
    ['overlap', rawFile({ a: f32([0, 8]), b: f32([4, 12]) }, new Uint8Array(12)), /"a" and "b" overlap/],
    ['metadata not strings', rawFile({ __metadata__: { n: 3 } }), /__metadata__\["n"\] is not a string/],
  ];
  it.each(cases)('rejects %s with a clear error', (_name, bytes, message) => {
    expect(() => decodeSafetensors(bytes)).toThrow(SafetensorsError);
    expect(() => decodeSafetensors(bytes)).toThrow(message);
  });

  it('names the file in errors', () => {
    const p = path.join(dir, 'broken.safetensors');
    fs.writeFileSync(p, rawFile({ a: f32([0, 12]) }, new Uint8Array(12)));
    expect(() => SafetensorsFile.open(p)).toThrow(`safetensors (${p}): tensor "a"`);
  });

  it('refuses inconsistent tensors when encoding', () => {
    expect(() => encodeSafetensors({ a: { dtype: 'F32', shape: [3], data: new Float32Array(2) } })).toThrow(
      /2 elements for shape \[3\]/,
    );
    expect(() => encodeSafetensors({ a: { dtype: 'F16', shape: [1], data: new Float32Array(1) } })).toThrow(
      /F16 data must be a Uint16Array/,
    );
  });
});

describe('tfjs conversion', () => {
  it('loads every dtype as float32 / int32 / bool tensors', () => {
    const i64: RawTensor = { dtype: 'I64', shape: [2], data: BigInt64Array.of(-5n, 1n << 30n) };
    const fitting = { ...everyDtype, i64 };
    const { tensors } = loadSafetensorsBuffer(encodeSafetensors(fitting));
    try {
      expect(Array.from(tensors.i64.dataSync())).toEqual([-5, 2 ** 30]);
      expect(tensors.f16.dtype).toBe('float32');
      expect(Array.from(tensors.f16.dataSync())).toEqual([1, 2 ** -24, -Infinity]);
      expect(Array.from(tensors.bf16.dataSync())).toEqual([1, bf16ToF32(0xc049)]);
      expect(tensors.f64.dtype).toBe('float32');
      expect(tensors.f64.dataSync()[0]).toBeCloseTo(Math.PI, 6);
      expect(tensors.i16.dtype).toBe('int32');
      expect(Array.from(tensors.u8.dataSync())).toEqual([0, 1, 2, 254, 255]);
      expect(tensors.bool.dtype).toBe('bool');
      expect(tensors.scalar.shape).toEqual([]);
      expect(tensors.empty.shape).toEqual([0, 4]);
    } finally {
      Object.values(tensors).forEach((t) => t.dispose());
    }
  });

  it('refuses I64 values that do not fit int32, without leaking tensors', () => {
    const big = encodeSafetensors({
      ok: { dtype: 'F32', shape: [1], data: Float32Array.of(1) },
      big: { dtype: 'I64', shape: [1], data: BigInt64Array.of(1n << 40n) },
    });
    const count = tf.memory().numTensors;
    expect(() => loadSafetensorsBuffer(big)).toThrow(/"big": I64 value 1099511627776 does not fit in int32/);
    expect(tf.memory().numTensors).toBe(count);
  });

  it('writes float32 tensors as F32 exactly and down-casts to F16/BF16 on request', () => {
    const values = Float32Array.of(0.1, -3.14159, 65519, 1e-7, 70000, NaN);
    const t = tf.tensor(values, [2, 3]);
    const ints = tf.tensor([1, -2], [2], 'int32');
    try {
      for (const dtype of ['F32', 'F16', 'BF16'] as const) {
        const buf = saveSafetensorsBuffer({ t, ints }, { dtype, metadata: { dtype } });
        const raw = decodeSafetensors(buf);
        expect(raw.tensors.t.dtype).toBe(dtype);
        expect(raw.tensors.ints.dtype).toBe('I32');
        const { metadata, tensors } = loadSafetensorsBuffer(buf);
        expect(metadata).toEqual({ dtype });
        const got = tensors.t.dataSync();
        const expected = Array.from(values, (v) =>
          dtype === 'F32' ? v : dtype === 'F16' ? f16ToF32(f32ToF16(v)) : bf16ToF32(f32ToBf16(v)),
        );
        expect(Array.from(got)).toEqual(expected);
        expect(tensors.t.shape).toEqual([2, 3]);
        expect(Array.from(tensors.ints.dataSync())).toEqual([1, -2]);
        Object.values(tensors).forEach((x) => x.dispose());
      }
    } finally {
      t.dispose();
      ints.dispose();
    }
  });
});

describe('files', () => {
  it('saves atomically and reads single tensors without loading the rest', async () => {
    const p = path.join(dir, 'model.safetensors');
    const a = tf.randomNormal([4, 5], 0, 1, 'float32', 1);
    const b = tf.range(0, 6, 1, 'int32').reshape([2, 3]);
    try {
      await saveSafetensors(p, { 'blocks.0.weight': a, 'blocks.0.index': b }, { metadata: { step: '7' } });
      expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);

      const info = inspectSafetensors(p);
      expect(info.metadata).toEqual({ step: '7' });
      expect(info.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual([
        ['blocks.0.weight', 'F32', [4, 5]],
        ['blocks.0.index', 'I32', [2, 3]],
      ]);

      const f = SafetensorsFile.open(p);
      try {
        expect(f.names()).toEqual(['blocks.0.weight', 'blocks.0.index']);
        expect(f.has('nope')).toBe(false);
        expect(() => f.info('nope')).toThrow(/no tensor named "nope"/);
        const w = f.readTensor('blocks.0.weight');
        expect(Array.from(w.dataSync())).toEqual(Array.from(a.dataSync()));
        w.dispose();
      } finally {
        f.close();
      }
      expect(() => f.readRaw('blocks.0.weight')).toThrow(/closed/);

      // overwrite in place, then load with a filter
      await saveSafetensors(p, { only: b });
      const loaded = loadSafetensors(p, (t) => t.name === 'only');
      expect(Object.keys(loaded.tensors)).toEqual(['only']);
      expect(Array.from(loaded.tensors.only.dataSync())).toEqual([0, 1, 2, 3, 4, 5]);
      loaded.tensors.only.dispose();
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('leaves no temp file behind when a write fails', async () => {
    const target = path.join(dir, 'sub-that-is-a-dir');
    fs.mkdirSync(target);
    const t = tf.scalar(1);
    await expect(saveSafetensors(target, { t })).rejects.toThrow();
    t.dispose();
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('reports truncated files clearly', () => {
    const p = path.join(dir, 'trunc.safetensors');
    const full = encodeSafetensors({ a: { dtype: 'F32', shape: [4], data: new Float32Array(4) } });
    fs.writeFileSync(p, full.subarray(0, full.length - 4));
    expect(() => SafetensorsFile.open(p)).toThrow(/past the 12-byte data section/);
  });
});
