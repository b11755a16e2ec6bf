/**
 * Seeded random numbers whose whole state can be saved and restored, so that a sampler run or a
 * training run is reproducible from its seed and a resumed training run draws exactly the numbers an
 * uninterrupted run would have drawn. Generated in JS (not by the tensor backend) so the stream does
 * not depend on which backend is active.
 */

/** Serialisable generator state: four xoshiro128** words plus the cached second Box–Muller normal. */
export interface RngState {
  s: [number, number, number, number];
  spare: number | null;
}

const TWO_POW_32 = 4294967296;

function splitmix32(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spare: number | null = null;

  /**
   * A generator for `seed` (an integer up to 2^53 − 1) and an optional stream number, so that one seed
   * can feed independent streams (noise, dropout, data order) without them overlapping in practice.
   */
  constructor(seed: number, stream = 0) {
    if (!Number.isFinite(seed) || seed < 0 || Math.floor(seed) !== seed) {
      throw new Error(`Rng: seed must be a non-negative integer, got ${seed}`);
    }
    const lo = seed % TWO_POW_32;
    const hi = Math.floor(seed / TWO_POW_32);
    const a = splitmix32(lo ^ Math.imul(stream + 1, 0x27d4eb2d));
    const b = splitmix32(hi ^ 0x165667b1 ^ Math.imul(stream, 0x61c88647));
    this.s0 = a() ^ b();
    this.s1 = a() ^ b();
    this.s2 = a() ^ b();
    this.s3 = a() ^ b();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  static fromState(state: RngState): Rng {
    const r = new Rng(0);
    r.setState(state);
    return r;
  }

  getState(): RngState {
    return { s: [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0], spare: this.spare };
  }

  setState(state: RngState): void {
    if (!state || !Array.isArray(state.s) || state.s.length !== 4) throw new Error('Rng: malformed state');
    [this.s0, this.s1, this.s2, this.s3] = state.s.map((v) => v >>> 0) as [number, number, number, number];
    this.spare = state.spare ?? null;
  }

  /** Next 32-bit unsigned integer (xoshiro128**). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Standard normal draw (Box–Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = this.uniform();
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  normals(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal();
    return out;
  }

  uniforms(n: number): Float64Array {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = this.uniform();
    return out;
  }

  /** Fisher–Yates permutation of 0..n−1. */
  permutation(n: number): number[] {
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
