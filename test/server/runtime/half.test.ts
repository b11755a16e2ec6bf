import {
  bf16ToF32,
  decodeBf16,
  decodeF16,
  encodeBf16,
  encodeF16,
  f16ToF32,
  f32BitsToBf16Bits,
  f32BitsToF16Bits,
  f32ToBf16,
  f32ToF16,
} from '../../../server/runtime/half';

const bitsOf = (v: number): number => new Uint32Array(Float32Array.of(v).buffer)[0];

describe('float16', () => {
  it('encodes special values', () => {
    expect(f32ToF16(0)).toBe(0x0000);
    expect(f32ToF16(-0)).toBe(0x8000);
    expect(f32ToF16(1)).toBe(0x3c00);
    expect(f32ToF16(-2)).toBe(0xc000);
    expect(f32ToF16(Infinity)).toBe(0x7c00);
    expect(f32ToF16(-Infinity)).toBe(0xfc00);
    expect(f32ToF16(NaN) & 0x7c00).toBe(0x7c00);
    expect(f32ToF16(NaN) & 0x3ff).not.toBe(0);
    // a NaN whose payload sits only in bits that float16 drops must still be NaN
    expect(f32BitsToF16Bits(0x7f800001) & 0x3ff).not.toBe(0);
    expect(f32BitsToF16Bits(0xff800001) & 0x8000).toBe(0x8000);
  });

  it('rounds to nearest, ties to even, overflowing to infinity', () => {
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(65519.99)).toBe(0x7bff);
    expect(f32ToF16(65520)).toBe(0x7c00); // the tie above the largest finite goes to the even pattern = inf
    expect(f32ToF16(-1e6)).toBe(0xfc00);
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (upwards)
    expect(f32ToF16(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // just above the tie
  });

  it('handles subnormals exactly', () => {
    expect(f32ToF16(2 ** -24)).toBe(0x0001);
    expect(f32ToF16(2 ** -25)).toBe(0x0000); // tie → even (zero)
    expect(f32ToF16(2 ** -25 * (1 + 2 ** -23))).toBe(0x0001);
    expect(f32ToF16(3 * 2 ** -25)).toBe(0x0002); // tie between 1 and 2 → 2
    expect(f32ToF16(1023 * 2 ** -24)).toBe(0x03ff);
    expect(f32ToF16(2 ** -14 - 2 ** -25)).toBe(0x0400); // rounds up into the smallest normal
    expect(f32ToF16(2 ** -14)).toBe(0x0400);
    expect(f32ToF16(-(2 ** -30))).toBe(0x8000);
    expect(f32ToF16(1e-45)).toBe(0x0000); // float32 subnormal input
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x03ff)).toBe(1023 * 2 ** -24);
    expect(f16ToF32(0x8001)).toBe(-(2 ** -24));
  });

  it('decodes special values', () => {
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0xfc00)).toBe(-Infinity);
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect(f16ToF32(0x7e00)).toBeNaN();
    expect(f16ToF32(0x7c01)).toBeNaN();
  });

  it('round-trips every non-NaN pattern, and the table decoder agrees with the scalar one', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const decoded = decodeF16(all);
    const reencoded = encodeF16(decoded);
    for (let h = 0; h < 65536; h++) {
      const isNaN16 = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (isNaN16) {
        expect(decoded[h]).toBeNaN();
        continue;
      }
      if (Object.is(decoded[h], f16ToF32(h)) === false) throw new Error(`decode mismatch at ${h}`);
      if (reencoded[h] !== h) throw new Error(`round trip failed at 0x${h.toString(16)}`);
    }
  });

  it('matches numpy float32→float16 casts on random values', () => {
    // [float32 bits, numpy's float16 bits], generated once with numpy 2.4 (normals, overflow-range, subnormals)
    const cases = [
      [0x3eb0f069, 0x3588],
      [0x3da84474, 0x2d42],
      [0x3163131b, 0x0000],
      [0xb0b31ac5, 0x8000],
      [0x446256c7, 0x6313],
      [0x42328cc2, 0x5194],
      [0xc4063d02, 0xe032],
      [0x3d6e06a6, 0x2b70],
      [0xc6ba3b1f, 0xf5d2],
      [0x471dbc05, 0x78ee],
      [0xc6d74173, 0xf6ba],
      [0xc5cb725d, 0xee5c],
      [0xb54478ed, 0x800c],
      [0xb4501033, 0x8003],
      [0xb51f34cd, 0x800a],
      [0xb4ff36d0, 0x8008],
      [0x350669dc, 0x0008],
      [0xb4ebc8c8, 0x8007],
      [0xb60b2266, 0x8023],
      [0x388d2522, 0x0469],
      [0x38878b0b, 0x043c],
      [0x3803ff4a, 0x0210],
      [0x36c1ab0a, 0x0061],
      [0xb8030293, 0x820c],
    ];
    for (const [f, h] of cases) expect(f32BitsToF16Bits(f)).toBe(h);
  });
});

describe('bfloat16', () => {
  it('encodes and decodes exactly', () => {
    expect(f32ToBf16(1)).toBe(0x3f80);
    expect(f32ToBf16(-0)).toBe(0x8000);
    expect(f32ToBf16(Infinity)).toBe(0x7f80);
    expect(f32ToBf16(-Infinity)).toBe(0xff80);
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(bf16ToF32(0x7f80)).toBe(Infinity);
    expect(bf16ToF32(0xffc0)).toBeNaN();
    expect(bf16ToF32(0x0001)).toBe(2 ** -133); // bf16 subnormal
  });

  it('rounds to nearest, ties to even', () => {
    expect(f32BitsToBf16Bits(0x3f808000)).toBe(0x3f80); // tie → even
    expect(f32BitsToBf16Bits(0x3f818000)).toBe(0x3f82); // tie → even (upwards)
    expect(f32BitsToBf16Bits(0x3f808001)).toBe(0x3f81);
    expect(f32BitsToBf16Bits(0x3f807fff)).toBe(0x3f80);
    expect(f32BitsToBf16Bits(0x7f7fffff)).toBe(0x7f80); // largest float32 overflows to inf
    expect(f32BitsToBf16Bits(0x00008000)).toBe(0x0000); // subnormal tie → even
    expect(f32BitsToBf16Bits(0x00018000)).toBe(0x0002);
    expect(f32BitsToBf16Bits(0x80008001)).toBe(0x8001);
  });

  it('keeps NaN as NaN even when only dropped bits carry the payload', () => {
    const h = f32BitsToBf16Bits(0x7f800001);
    expect(h & 0x7f80).toBe(0x7f80);
    expect(h & 0x7f).not.toBe(0);
    expect(f32ToBf16(NaN) & 0x7f).not.toBe(0);
  });

  it('round-trips every non-NaN pattern through the array codecs', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = encodeBf16(decodeBf16(all));
    for (let h = 0; h < 65536; h++) {
      const isNaN16 = (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;
      if (!isNaN16 && back[h] !== h) throw new Error(`bf16 round trip failed at 0x${h.toString(16)}`);
    }
    expect(bitsOf(bf16ToF32(0x4049))).toBe(0x40490000);
  });
});
