import { tf } from '../../../server/runtime/tf';
import { subsLogProbs } from '../../../nodes/sampling/subs';
import { Rng } from '../../../nodes/sampling/random';
import {
  applyCfgDropout,
  corruptTokens,
  flowMatchingLoss,
  interpolate,
  maskedDiffusionLoss,
  maskedTokenTerms,
  reducePerSequence,
  reduceTokenTerms,
  type VelocityFn,
} from '../../../nodes/training/losses';

const V = 6;
const MASK = 5;

function scalar(t: tf.Tensor): number {
  const v = t.dataSync()[0];
  t.dispose();
  return v;
}

function randomLogits(b: number, m: number, seed: number): tf.Tensor3D {
  return tf.tensor(new Rng(seed).normals(b * m * V), [b, m, V]) as tf.Tensor3D;
}

describe('SUBS (spec §5 item 3)', () => {
  it('gives the mask token no probability and pins unmasked positions', () => {
    const logits = randomLogits(2, 4, 1);
    const xt = tf.tensor2d(
      [
        [MASK, 2, MASK, 0],
        [1, MASK, MASK, MASK],
      ],
      undefined,
      'int32',
    );
    const logp = subsLogProbs(logits, xt, MASK);
    const p = tf.exp(logp).arraySync() as number[][][];
    const x = xt.arraySync() as number[][];
    for (let b = 0; b < 2; b++) {
      for (let l = 0; l < 4; l++) {
        expect(p[b][l][MASK]).toBe(0);
        const sum = p[b][l].reduce((a, c) => a + c, 0);
        expect(sum).toBeCloseTo(1, 5);
        if (x[b][l] !== MASK) {
          for (let v = 0; v < V; v++) expect(p[b][l][v]).toBe(v === x[b][l] ? 1 : 0);
        }
      }
    }
  });

  it('makes L_txt blind to logits at unmasked positions', () => {
    const x0 = tf.tensor2d(
      [
        [1, 2, 3, 4],
        [0, 1, 2, 3],
      ],
      undefined,
      'int32',
    );
    const xt = tf.tensor2d(
      [
        [MASK, 2, MASK, 4],
        [0, MASK, 2, 3],
      ],
      undefined,
      'int32',
    );
    const logits = randomLogits(2, 4, 2);
    const changed = tf.tidy(() => {
      const unmasked = tf.notEqual(xt, MASK).expandDims(-1).tile([1, 1, V]);
      return tf.where(unmasked, tf.mul(randomLogits(2, 4, 3), 50), logits) as tf.Tensor3D;
    });
    const a = scalar(maskedDiffusionLoss(logits, x0, xt, [0.3, 0.8], MASK));
    const b = scalar(maskedDiffusionLoss(changed, x0, xt, [0.3, 0.8], MASK));
    expect(a).toBeGreaterThan(0);
    expect(b).toBe(a);
    const terms = maskedTokenTerms(logits, x0, xt, [0.3, 0.8], MASK).arraySync();
    expect(Math.abs(terms[0][1])).toBe(0);
    expect(Math.abs(terms[1][0])).toBe(0);
  });
});

describe('text loss edge cases (spec §5 item 4)', () => {
  it('is 0 when nothing is masked', () => {
    const x0 = tf.tensor2d([[1, 2, 3]], undefined, 'int32');
    expect(scalar(maskedDiffusionLoss(randomLogits(1, 3, 4), x0, x0, [0.5], MASK))).toBe(0);
  });

  it('is 0 when everything is masked and the model puts probability 1 on x0', () => {
    const x0 = [[1, 2, 3, 0]];
    const logits = tf.tensor3d(
      x0.map((row) => row.map((tok) => Array.from({ length: V }, (_, v) => (v === tok ? 200 : 0)))),
    );
    const xt = tf.fill([1, 4], MASK, 'int32') as tf.Tensor2D;
    const l = scalar(maskedDiffusionLoss(logits, tf.tensor2d(x0, undefined, 'int32'), xt, [0.01], MASK));
    expect(Math.abs(l)).toBeLessThan(1e-6);
  });

  it('weights a masked token by exactly 1/t', () => {
    const logits = randomLogits(1, 2, 5);
    const x0 = tf.tensor2d([[3, 1]], undefined, 'int32');
    const xt = tf.tensor2d([[MASK, 1]], undefined, 'int32');
    const t = 0.25;
    const terms = maskedTokenTerms(logits, x0, xt, [t], MASK).arraySync();
    const lp = tf
      .logSoftmax(tf.tensor1d((logits.arraySync()[0][0] as number[]).slice(0, MASK)))
      .arraySync() as number[];
    expect(terms[0][0]).toBeCloseTo(-lp[3] / t, 4);
  });
});

describe('corruption and protected positions (spec §5 item 5)', () => {
  it('never masks cond_mask = 0 positions, whatever t is', () => {
    const b = 4;
    const m = 50;
    const x0 = new Int32Array(b * m).map((_, i) => i % 5);
    const cond = new Uint8Array(b * m).map((_, i) => (i % m < 20 ? 0 : 1));
    const xt = corruptTokens(x0, cond, [1, 1, 0.999, 0.5], m, MASK, new Rng(8));
    for (let i = 0; i < b * m; i++) if (!cond[i]) expect(xt[i]).toBe(x0[i]);
    // at t = 1 nearly all maskable positions are masked (π = 0.999)
    const maskedRow0 = Array.from(xt.slice(20, 50)).filter((v) => v === MASK).length;
    expect(maskedRow0).toBeGreaterThanOrEqual(28);
  });

  it('masks with probability (1 − η)t', () => {
    const n = 20000;
    const xt = corruptTokens(new Int32Array(n), new Uint8Array(n).fill(1), [0.3], n, MASK, new Rng(9));
    const f = Array.from(xt).filter((v) => v === MASK).length / n;
    const p = 0.999 * 0.3;
    expect(Math.abs(f - p)).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / n));
  });
});

describe('reduction over B·M (spec §5 item 6)', () => {
  it('divides the sum of per-token terms by B·M', () => {
    const terms = tf.tensor2d([
      [1, 0, 2],
      [0.5, 0, 0],
    ]);
    expect(scalar(reduceTokenTerms(terms))).toBeCloseTo(3.5 / 6, 6);
  });

  it('scales by M/(M + k) when k unmasked positions are appended', () => {
    const m = 5;
    const k = 3;
    const logits = randomLogits(2, m, 10);
    const x0 = tf.tensor2d(
      [
        [1, 2, 3, 4, 0],
        [0, 1, 2, 3, 4],
      ],
      undefined,
      'int32',
    );
    const xt = tf.tensor2d(
      [
        [MASK, 2, MASK, 4, MASK],
        [0, MASK, MASK, 3, 4],
      ],
      undefined,
      'int32',
    );
    const base = scalar(maskedDiffusionLoss(logits, x0, xt, [0.4, 0.7], MASK));
    const pad = tf.fill([2, k], 1, 'int32') as tf.Tensor2D;
    const longer = scalar(
      maskedDiffusionLoss(
        tf.concat([logits, randomLogits(2, k, 11)], 1),
        tf.concat([x0, pad], 1),
        tf.concat([xt, pad], 1),
        [0.4, 0.7],
        MASK,
      ),
    );
    expect(longer).toBeCloseTo((base * m) / (m + k), 6);
  });

  it('divides per sequence by its own count when asked (normalize: content), then averages', () => {
    const terms = tf.tensor2d([
      [1, 0, 2],
      [0.5, 0, 0],
    ]);
    expect(scalar(reducePerSequence(terms, [3, 1]))).toBeCloseTo((3 / 3 + 0.5 / 1) / 2, 6);
    expect(() => reducePerSequence(terms, [1])).toThrow('1 counts for 2 sequences');
    expect(() => reducePerSequence(terms, [1, 0])).toThrow('every count must be positive');
    // through the loss: the same per-token terms, reduced per sequence
    const logits = randomLogits(2, 3, 13);
    const x0 = tf.tensor2d(
      [
        [1, 2, 3],
        [3, 2, 1],
      ],
      undefined,
      'int32',
    );
    const xt = tf.fill([2, 3], MASK, 'int32') as tf.Tensor2D;
    const t = maskedTokenTerms(logits, x0, xt, [0.5, 0.25], MASK).arraySync();
    const l = scalar(maskedDiffusionLoss(logits, x0, xt, [0.5, 0.25], MASK, undefined, [1, 2]));
    expect(l).toBeCloseTo((t[0][0] + t[0][1] + t[0][2] + (t[1][0] + t[1][1] + t[1][2]) / 2) / 2, 5);
  });

  it('applies the label mask to the per-token terms', () => {
    const logits = randomLogits(1, 3, 12);
    const x0 = tf.tensor2d([[1, 2, 3]], undefined, 'int32');
    const xt = tf.fill([1, 3], MASK, 'int32') as tf.Tensor2D;
    const full = maskedTokenTerms(logits, x0, xt, [0.5], MASK).arraySync()[0];
    const lm = tf.tensor2d([[0, 1, 1]]);
    const l = scalar(maskedDiffusionLoss(logits, x0, xt, [0.5], MASK, lm));
    expect(l).toBeCloseTo((full[1] + full[2]) / 3, 5);
  });
});

describe('flow identities (spec §5 item 7)', () => {
  const shape: [number, number, number, number] = [3, 2, 2, 4];
  const z0 = tf.tensor(new Rng(20).normals(48), shape) as tf.Tensor4D;
  const eps = tf.tensor(new Rng(21).normals(48), shape) as tf.Tensor4D;
  const enc = tf.zeros([3, 2, 8]) as tf.Tensor3D;

  it('has z_σ = ε at σ = 1', () => {
    const zs = interpolate(z0, eps, [1, 1, 1]);
    expect(scalar(tf.max(tf.abs(tf.sub(zs, eps))))).toBe(0);
  });

  it('is 0 when v̂ = ε − z0 and equals mean σ²(v̂ − (ε − z0))² otherwise', () => {
    const sigmas = [1, 0.3, 0.001];
    const ideal: VelocityFn = () => tf.sub(eps, z0) as tf.Tensor4D;
    expect(scalar(flowMatchingLoss(ideal, z0, eps, enc, sigmas))).toBeLessThan(1e-12);
    const other = tf.tensor(new Rng(22).normals(48), shape) as tf.Tensor4D;
    const taus: number[] = [];
    const model: VelocityFn = (_z, tau) => {
      taus.push(...tau.dataSync());
      return tf.clone(other);
    };
    const l = scalar(flowMatchingLoss(model, z0, eps, enc, sigmas));
    expect(taus.map((t) => Math.round(t * 1000) / 1000)).toEqual([1000, 300, 1]);
    const expected = tf.tidy(() => {
      const s2 = tf.tensor1d(sigmas.map((s) => s * s)).reshape([-1, 1, 1, 1]);
      return tf.mean(tf.mul(s2, tf.square(tf.sub(other, tf.sub(eps, z0))))).dataSync()[0];
    });
    expect(l).toBeCloseTo(expected, 5);
  });

  it('replaces dropped captions by the null embedding of the same M', () => {
    const e = tf.tensor(new Rng(23).normals(3 * 2 * 8), [3, 2, 8]) as tf.Tensor3D;
    const nul = tf.fill([1, 2, 8], 7) as tf.Tensor3D;
    const out = applyCfgDropout(e, nul, [false, true, false]).arraySync();
    const orig = e.arraySync();
    expect(out[0]).toEqual(orig[0]);
    expect(out[1]).toEqual(nul.arraySync()[0]);
    expect(out[2]).toEqual(orig[2]);
    expect(() => applyCfgDropout(e, tf.zeros([1, 3, 8]) as tf.Tensor3D, [true, false, false])).toThrow(
      /same M|share M/,
    );
  });
});
