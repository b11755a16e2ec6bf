/**
 * Bit-exact conversions between float32 and the two 16-bit float formats found in weight files.
 * float32 → 16-bit rounds to nearest, ties to even (as PyTorch and numpy do); NaN stays NaN, overflow becomes
 * ±Infinity, and float16 subnormals are produced and read exactly. 16-bit → float32 is exact.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 bit pattern → float16 bit pattern. */
export function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) {
    // Keep a quiet bit so a NaN whose payload lives only in the dropped low bits stays NaN.
    return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  }
  const e = exp - 112; // rebias 127 → 15
  if (e <= 0) {
    // Below 2^-25 everything rounds to zero (2^-25 itself is a tie that goes to the even value 0).
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1) !== 0)) h++;
    return sign | h; // a carry out of the subnormal range lands on the smallest normal, which is right
  }
  if (e >= 31) return sign | 0x7c00;
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++; // a carry into exponent 31 gives Infinity
  return sign | h;
}

/** float16 bit pattern → float32 bit pattern (exact). */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0) {
    if (mant === 0) return sign >>> 0;
    let e = 113; // 127 - 15 + 1
    while ((mant & 0x400) === 0) {
      mant <<= 1;
      e--;
    }
    return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
  }
  if (exp === 31) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
}

/** float32 bit pattern → bfloat16 bit pattern. */
export function f32BitsToBf16Bits(x: number): number {
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

export function f32ToF16(v: number): number {
  f32[0] = v;
  return f32BitsToF16Bits(u32[0]);
}

export function f16ToF32(h: number): number {
  u32[0] = f16BitsToF32Bits(h);
  return f32[0];
}

export function f32ToBf16(v: number): number {
  f32[0] = v;
  return f32BitsToBf16Bits(u32[0]);
}

export function bf16ToF32(h: number): number {
  u32[0] = (h << 16) >>> 0;
  return f32[0];
}

let f16Table: Uint32Array | null = null;

/** Decodes float16 bit patterns into a float32 array (table driven: weight files hold millions of them). */
export function decodeF16(src: Uint16Array, out = new Float32Array(src.length)): Float32Array {
  if (!f16Table) {
    f16Table = new Uint32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = f16BitsToF32Bits(i);
  }
  const t = f16Table;
  const o = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) o[i] = t[src[i]];
  return out;
}

export function decodeBf16(src: Uint16Array, out = new Float32Array(src.length)): Float32Array {
  const o = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) o[i] = src[i] << 16;
  return out;
}

export function encodeF16(src: Float32Array, out = new Uint16Array(src.length)): Uint16Array {
  const s = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < s.length; i++) out[i] = f32BitsToF16Bits(s[i]);
  return out;
}

export function encodeBf16(src: Float32Array, out = new Uint16Array(src.length)): Uint16Array {
  const s = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < s.length; i++) out[i] = f32BitsToBf16Bits(s[i]);
  return out;
}
