import { PNG } from 'pngjs';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(b: Buffer): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A small real PNG with extra chunks inserted before IEND (tEXt/zTXt/iTXt bodies given raw). */
export function pngWithChunks(chunks: { type: string; data: Buffer }[], size = 2): Buffer {
  const p = new PNG({ width: size, height: size });
  p.data.fill(200);
  const base = PNG.sync.write(p);
  const iend = base.length - 12;
  const encoded = chunks.map(({ type, data }) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  });
  return Buffer.concat([base.subarray(0, iend), ...encoded, base.subarray(iend)]);
}
