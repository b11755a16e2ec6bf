import {
  ancestralUpdate,
  sampleMasked,
  sharpen,
  type MaskedStep,
} from '../../../nodes/sampling/masked-sampler';
import { subsProbabilities } from '../../../nodes/sampling/subs';
import { Rng } from '../../../nodes/sampling/random';

const V = 7;
const MASK = 6;

/** A deterministic stand-in for f + SUBS whose prediction depends on the whole current state. */
function stateDependent(x: Int32Array): Float32Array {
  const logits = new Float32Array(x.length * V);
  let h = 17;
  for (const t of x) h = (h * 31 + t + 3) % 1009;
  for (let r = 0; r < x.length; r++) {
    for (let v = 0; v < V; v++) logits[r * V + v] = Math.sin(h * 0.37 + r * 1.3 + v * 2.1) * 3;
  }
  return subsProbabilities(logits, x, V, MASK);
}

const prompt = [2, 0, 4]; // fixed prefix, as a VQA question
function template(m: number): { ids: number[]; fixed: boolean[] } {
  return {
    ids: Array.from({ length: m }, (_, i) => (i < prompt.length ? prompt[i] : MASK)),
    fixed: Array.from({ length: m }, (_, i) => i < prompt.length),
  };
}

describe('masked ancestral sampler (spec §3.2, §5 item 12)', () => {
  it('never adds masks, never changes unmasked tokens, keeps the prompt and ends without MASK', async () => {
    const m = 12;
    const t = template(m);
    const states: Int32Array[] = [];
    const res = await sampleMasked({
      template: t.ids,
      fixed: t.fixed,
      vocab: V,
      maskId: MASK,
      steps: 8,
      rng: new Rng(4),
      probabilities: stateDependent,
      onStep: (s: MaskedStep) => void states.push(new Int32Array(s.tokens)),
    });
    expect(states).toHaveLength(9);
    expect(Array.from(states[0].slice(3))).toEqual(new Array(m - 3).fill(MASK));
    for (let k = 0; k < states.length; k++) {
      expect(Array.from(states[k].slice(0, 3))).toEqual(prompt);
      if (k === 0) continue;
      const prev = states[k - 1];
      const cur = states[k];
      const count = (a: Int32Array) => a.filter((v) => v === MASK).length;
      expect(count(cur)).toBeLessThanOrEqual(count(prev));
      for (let i = 0; i < m; i++) if (prev[i] !== MASK) expect(cur[i]).toBe(prev[i]);
    }
    expect(res.tokens.includes(MASK)).toBe(false);
    expect(Array.from(res.tokens.slice(0, 3))).toEqual(prompt);
  });

  it('is deterministic for a fixed seed', async () => {
    const t = template(16);
    const run = (seed: number) =>
      sampleMasked({
        template: t.ids,
        fixed: t.fixed,
        vocab: V,
        maskId: MASK,
        steps: 6,
        rng: new Rng(seed),
        probabilities: stateDependent,
      });
    const a = await run(123);
    const b = await run(123);
    expect(Array.from(a.tokens)).toEqual(Array.from(b.tokens));
    const others = await Promise.all([1, 2, 3, 4].map(run));
    expect(others.some((o) => Array.from(o.tokens).join() !== Array.from(a.tokens).join())).toBe(true);
  });

  it('outputs token a everywhere outside the fixed slots when p is one-hot on a', async () => {
    const m = 10;
    const t = template(m);
    const a = 5;
    const oneHot = (x: Int32Array): Float32Array => {
      const logits = new Float32Array(x.length * V).fill(-1e4);
      for (let r = 0; r < x.length; r++) logits[r * V + a] = 0;
      return subsProbabilities(logits, x, V, MASK);
    };
    const res = await sampleMasked({
      template: t.ids,
      fixed: t.fixed,
      vocab: V,
      maskId: MASK,
      steps: 3,
      rng: new Rng(0),
      probabilities: oneHot,
    });
    expect(Array.from(res.tokens)).toEqual([...prompt, ...new Array(m - 3).fill(a)]);
  });

  it('reveals each MASK in one step with frequency (t − s)/t, drawing tokens by p', () => {
    const n = 40000;
    const x = new Int32Array(n).fill(MASK);
    const pRow = [0.1, 0.2, 0.3, 0.15, 0.05, 0.2, 0];
    const p = new Float32Array(n * V);
    for (let r = 0; r < n; r++) for (let v = 0; v < V; v++) p[r * V + v] = pRow[v];
    const t = 0.6;
    const s = 0.45;
    const next = ancestralUpdate(x, p, t, s, V, MASK, new Rng(99));
    const counts = new Array(V).fill(0);
    for (const v of next) counts[v]++;
    const revealed = n - counts[MASK];
    const expected = (t - s) / t;
    const sd = Math.sqrt((expected * (1 - expected)) / n);
    expect(Math.abs(revealed / n - expected)).toBeLessThan(4 * sd);
    for (let v = 0; v < MASK; v++) {
      const f = counts[v] / revealed;
      expect(Math.abs(f - pRow[v])).toBeLessThan(4 * Math.sqrt((pRow[v] * (1 - pRow[v])) / revealed) + 1e-9);
    }
  });
});

describe('token temperature', () => {
  const pRow = [0.1, 0.2, 0.3, 0.15, 0.05, 0.2, 0];

  it('sharpens p to p^(1/T) per position, one-hot on the most probable token at T = 0, p itself at T = 1', () => {
    const p = Float32Array.from([...pRow, ...[0.5, 0.1, 0.1, 0.1, 0.1, 0.1, 0]]);
    expect(sharpen(p, V, MASK, 1)).toBe(p);
    expect(Array.from(sharpen(p, V, MASK, 0))).toEqual([0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    const half = sharpen(p, V, MASK, 0.5);
    const sq = pRow.map((v) => v * v);
    const z = sq.reduce((a, b) => a + b, 0);
    sq.forEach((v, i) => expect(half[i]).toBeCloseTo(v / z, 6));
    expect(half[MASK]).toBe(0);
    // a very low temperature neither underflows nor divides by zero
    const cold = sharpen(p, V, MASK, 1e-3);
    expect(cold[2]).toBeCloseTo(1, 6);
    expect(Array.from(cold).every(Number.isFinite)).toBe(true);
    expect(() => sharpen(p, V, MASK, -1)).toThrow('temperature must be a finite number ≥ 0, got -1');
  });

  it('at T = 0 reveals positions as often as at T = 1 and always with the most probable token', () => {
    const n = 20000;
    const x = new Int32Array(n).fill(MASK);
    const p = new Float32Array(n * V);
    for (let r = 0; r < n; r++) for (let v = 0; v < V; v++) p[r * V + v] = pRow[v];
    const t = 0.6;
    const s = 0.45;
    const next = ancestralUpdate(x, sharpen(p, V, MASK, 0), t, s, V, MASK, new Rng(3));
    const revealed = next.filter((v) => v !== MASK);
    const expected = (t - s) / t;
    expect(Math.abs(revealed.length / n - expected)).toBeLessThan(
      4 * Math.sqrt((expected * (1 - expected)) / n),
    );
    expect(new Set(revealed)).toEqual(new Set([2]));
  });

  it('samples greedily through sampleMasked and refuses a negative temperature before any forward pass', async () => {
    const m = 10;
    const t = template(m);
    let calls = 0;
    const counted = (x: Int32Array): Float32Array => {
      calls++;
      return stateDependent(x);
    };
    const states: Int32Array[] = [];
    const res = await sampleMasked({
      template: t.ids,
      fixed: t.fixed,
      maskId: MASK,
      steps: m,
      temperature: 0,
      rng: new Rng(1),
      probabilities: counted,
      onStep: ({ tokens }) => {
        states.push(new Int32Array(tokens));
      },
    });
    expect(Array.from(res.tokens).includes(MASK)).toBe(false);
    expect(Array.from(res.tokens.slice(0, 3))).toEqual(prompt);
    // every token revealed at a step is the argmax of the prediction for the state before that step
    let revealed = 0;
    for (let j = 1; j < states.length; j++) {
      const p = stateDependent(states[j - 1]);
      for (let r = 0; r < m; r++) {
        if (states[j - 1][r] !== MASK || states[j][r] === MASK) continue;
        const row = Array.from(p.subarray(r * V, r * V + V));
        expect(states[j][r]).toBe(row.indexOf(Math.max(...row)));
        revealed++;
      }
    }
    expect(revealed).toBeGreaterThan(0);
    calls = 0;
    await expect(
      sampleMasked({
        template: t.ids,
        fixed: t.fixed,
        maskId: MASK,
        steps: 4,
        temperature: -0.5,
        rng: new Rng(0),
        probabilities: counted,
      }),
    ).rejects.toThrow('temperature must be a finite number ≥ 0, got -0.5');
    expect(calls).toBe(0);
  });
});

describe('probability cache (spec §5 item 13)', () => {
  it('gives the same tokens with and without the cache, with fewer forward passes', async () => {
    const t = template(6);
    const run = (cache: boolean) =>
      sampleMasked({
        template: t.ids,
        fixed: t.fixed,
        vocab: V,
        maskId: MASK,
        steps: 40,
        rng: new Rng(2024),
        probabilities: stateDependent,
        cache,
      });
    const cached = await run(true);
    const uncached = await run(false);
    expect(Array.from(cached.tokens)).toEqual(Array.from(uncached.tokens));
    expect(uncached.forwardPasses).toBeGreaterThanOrEqual(40);
    expect(cached.forwardPasses).toBeLessThan(uncached.forwardPasses);
    expect(cached.forwardPasses).toBeGreaterThanOrEqual(2);
  });
});

describe('a generator per batch row', () => {
  /** stateDependent applied to each row of m tokens on its own, as a batched forward would. */
  const rowwise =
    (m: number) =>
    (x: Int32Array): Float32Array => {
      const out = new Float32Array(x.length * V);
      for (let b = 0; b * m < x.length; b++)
        out.set(stateDependent(x.subarray(b * m, (b + 1) * m)), b * m * V);
      return out;
    };

  it('samples each row of a batch exactly as that row alone with its own seed', async () => {
    const m = 10;
    const rows = [
      { ...template(m), seed: 11 },
      {
        ids: Array.from({ length: m }, (_, i) => (i < 5 ? i % 5 : MASK)),
        fixed: Array.from({ length: m }, (_, i) => i < 5),
        seed: 12,
      },
      { ...template(m), seed: 13 },
    ];
    const alone = await Promise.all(
      rows.map((r) =>
        sampleMasked({
          template: r.ids,
          fixed: r.fixed,
          vocab: V,
          maskId: MASK,
          steps: 12,
          rng: new Rng(r.seed),
          probabilities: rowwise(m),
        }),
      ),
    );
    const batched = await sampleMasked({
      template: rows.flatMap((r) => r.ids),
      fixed: rows.flatMap((r) => r.fixed),
      vocab: V,
      maskId: MASK,
      steps: 12,
      rng: rows.map((r) => new Rng(r.seed)),
      probabilities: rowwise(m),
    });
    expect(Array.from(batched.tokens)).toEqual(alone.flatMap((a) => Array.from(a.tokens)));
    // rows 0 and 2 share a template but not a seed
    expect(Array.from(alone[0].tokens)).not.toEqual(Array.from(alone[2].tokens));
  });

  it('refuses generators that do not split the state into equal rows', async () => {
    const t = template(7);
    await expect(
      sampleMasked({
        template: t.ids,
        fixed: t.fixed,
        vocab: V,
        maskId: MASK,
        steps: 2,
        rng: [new Rng(1), new Rng(2)],
        probabilities: stateDependent,
      }),
    ).rejects.toThrow('2 row generators do not split 7 tokens into equal rows');
  });
});
