import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import { tf } from '../../../server/runtime/tf';
import { OnnxGraph } from '../../../server/runtime/onnx-graph';
import { OnnxModel } from '../../../server/runtime/onnx';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-graph-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** y = relu(x·W + b) reshaped by dynamic shape arithmetic to [B, 2, out/2]. */
function smallGraph(w: Float32Array, b: Float32Array): OnnxGraph {
  const g = new OnnxGraph('small', { purpose: 'test' });
  const x = g.input('x', 'float32', ['B', 4]);
  const y = g.op('Relu', [
    g.op('Add', [g.op('MatMul', [x, g.weight('w', w, [4, 6])]), g.weight('b', b, [6])]),
  ]);
  g.output('y', 'float32', ['B', 2, 3], g.reshape(y, [g.dim(x, 0), 2, -1]));
  return g;
}

function expected(x: Float32Array, w: Float32Array, b: Float32Array, B: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < B; i++)
    for (let j = 0; j < 6; j++) {
      let s = b[j];
      for (let k = 0; k < 4; k++) s += x[i * 4 + k] * w[k * 6 + j];
      out.push(Math.max(0, s));
    }
  return out;
}

describe('OnnxGraph', () => {
  const w = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i));
  const b = Float32Array.from({ length: 6 }, (_, i) => Math.cos(i) / 2);
  const x = Float32Array.from({ length: 12 }, (_, i) => i / 5 - 1);

  it('encodes a graph onnxruntime runs, with metadata and dynamic shapes', async () => {
    const g = smallGraph(w, b);
    const bytes = g.toBytes();
    const decoded = onnx.ModelProto.decode(bytes);
    expect(decoded.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', 17]]);
    expect(decoded.metadataProps).toEqual([expect.objectContaining({ key: 'purpose', value: 'test' })]);
    const m = await OnnxModel.load(bytes);
    const { y } = await m.run({ x: tf.tensor2d(x, [3, 4]) });
    expect(y.shape).toEqual([3, 2, 3]);
    const got = Array.from(y.dataSync());
    expected(x, w, b, 3).forEach((v, i) => expect(got[i]).toBeCloseTo(v, 5));
    m.dispose();
  });

  it('saves weights to an external data file above the size limit, and loads them back', async () => {
    const file = path.join(dir, 'ext.onnx');
    smallGraph(w, b).save(file, { externalAbove: 0 });
    expect(fs.existsSync(`${file}.data`)).toBe(true);
    // the 96-byte weight stays inline (below 1 KiB); make one large enough to move out
    const big = new Float32Array(4 * 600).map((_, i) => (i % 7) / 7);
    const g = new OnnxGraph('big');
    const xin = g.input('x', 'float32', ['B', 4]);
    g.output('y', 'float32', ['B', 600], g.op('MatMul', [xin, g.weight('w', big, [4, 600])]));
    const bigFile = path.join(dir, 'big.onnx');
    g.save(bigFile, { externalAbove: 0 });
    expect(fs.statSync(`${bigFile}.data`).size).toBeGreaterThanOrEqual(big.byteLength);
    expect(fs.statSync(bigFile).size).toBeLessThan(1000);
    const m = await OnnxModel.load(bigFile);
    const { y } = await m.run({ x: tf.tensor2d([1, 0, 0, 0], [1, 4]) });
    expect(Array.from(y.dataSync())).toEqual(Array.from(big.subarray(0, 600)));
    m.dispose();
  });

  it('deduplicates constants and refuses duplicate value names', () => {
    const g = new OnnxGraph('c');
    expect(g.floatConst(1, [3])).toBe(g.floatConst(1, [3]));
    expect(g.floatConst(1, [3])).not.toBe(g.floatConst(1, [4]));
    expect(g.ints([1, 2])).toBe(g.ints([1, 2]));
    expect(g.ints([1], true)).not.toBe(g.ints([1]));
    g.input('x', 'float32', [1]);
    expect(() => g.input('x', 'float32', [1])).toThrow("duplicate value name 'x'");
    expect(() => g.weight('w', new Float32Array(3), [2, 2])).toThrow('3 values for [2,2]');
  });
});
