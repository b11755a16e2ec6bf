import { tf } from '../../../../server/runtime';
import { useBackend } from '../../../helpers/gradcheck';
import { cropPosTable, sincosPosTable, timestepEmbedding } from '../../../../server/runtime/nn/embeddings';

beforeAll(async () => {
  await useBackend('cpu');
});

describe('timestepEmbedding', () => {
  test('cos half first: e(0) = [1×128, 0×128]', () => {
    const e = timestepEmbedding(tf.tensor1d([0]), 256).dataSync();
    expect(e.length).toBe(256);
    for (let k = 0; k < 128; k++) expect(e[k]).toBe(1);
    for (let k = 128; k < 256; k++) expect(e[k]).toBe(0);
  });

  test('f_k = exp(−ln(10⁴)·k/128)', () => {
    const tau = 500;
    const e = timestepEmbedding(tf.tensor1d([tau, 3]), 256).arraySync() as number[][];
    for (const k of [0, 1, 17, 64, 127]) {
      const f = Math.exp((-Math.log(10000) * k) / 128);
      expect(e[0][k]).toBeCloseTo(Math.cos(tau * f), 4);
      expect(e[0][128 + k]).toBeCloseTo(Math.sin(tau * f), 4);
      expect(e[1][128 + k]).toBeCloseTo(Math.sin(3 * f), 5);
    }
  });
});

describe('2-D sin-cos position table (spec §1.4, invariant 16)', () => {
  const D = 16;
  const G = 6;
  const base = 2; // S/p
  const table = sincosPosTable(D, G, base);

  test('cell (r, c) holds [sin, cos](c·(S/p)/G) then [sin, cos](r·(S/p)/G)', () => {
    for (const [r, c] of [
      [0, 0],
      [1, 4],
      [5, 2],
    ]) {
      const x = (c * base) / G;
      const y = (r * base) / G;
      for (let k = 0; k < D / 4; k++) {
        const w = Math.pow(10000, -k / (D / 4));
        const o = (r * G + c) * D;
        expect(table[o + k]).toBeCloseTo(Math.sin(x * w), 6);
        expect(table[o + D / 4 + k]).toBeCloseTo(Math.cos(x * w), 6);
        expect(table[o + D / 2 + k]).toBeCloseTo(Math.sin(y * w), 6);
        expect(table[o + (3 * D) / 4 + k]).toBeCloseTo(Math.cos(y * w), 6);
      }
    }
  });

  test('reference sizes put cell k at k/3', () => {
    const t = sincosPosTable(8, 192, 64);
    const o = (0 * 192 + 3) * 8; // column 3 → x = 1
    expect(t[o]).toBeCloseTo(Math.sin(1), 6);
  });

  test('the crop of the full grid is the table itself; smaller crops are centred', () => {
    const tt = tf.tensor(table, [1, G * G, D]);
    expect(Array.from(cropPosTable(tt, G, G, G).dataSync())).toEqual(Array.from(table));
    const crop = cropPosTable(tt, G, 3, 2).arraySync() as number[][];
    const top = Math.floor((G - 3) / 2);
    const left = Math.floor((G - 2) / 2);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 2; j++) {
        const o = ((top + i) * G + left + j) * D;
        expect(crop[i * 2 + j]).toEqual(Array.from(table.slice(o, o + D)));
      }
    }
    expect(() => cropPosTable(tt, G, 7, 2)).toThrow(/exceeds/);
  });
});
