/**
 * PNG encoding/decoding for IMAGE tensors, with text chunks as ComfyUI writes them: `prompt` (the API
 * prompt) and one chunk per extra_pnginfo key (`workflow`: the editor graph), each JSON in a tEXt chunk.
 */
import { PNG } from 'pngjs';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** JSON with every non-ASCII character escaped, so it fits a Latin-1 tEXt chunk and parses back unchanged. */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'),
  );
}

function textChunk(keyword: string, text: string): Buffer {
  if (!/^[\x20-\x7e]{1,79}$/.test(keyword)) throw new Error(`PNG text keyword '${keyword}' is not valid`);
  const data = Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0]), Buffer.from(text, 'latin1')]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const typeAndData = Buffer.concat([Buffer.from('tEXt', 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typeAndData));
  return Buffer.concat([len, typeAndData, crc]);
}

/** Inserts tEXt chunks right after IHDR (as PIL does). */
export function addTextChunks(png: Buffer, texts: Record<string, string>): Buffer {
  const ihdrEnd = 8 + 4 + 4 + 13 + 4;
  const chunks = Object.entries(texts).map(([k, v]) => textChunk(k, v));
  return Buffer.concat([png.subarray(0, ihdrEnd), ...chunks, png.subarray(ihdrEnd)]);
}

/** Reads every tEXt chunk of a PNG. */
export function readTextChunks(png: Uint8Array): Record<string, string> {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  const out: Record<string, string> = {};
  let p = 8;
  while (p + 8 <= buf.length) {
    const len = buf.readUInt32BE(p);
    const type = buf.toString('ascii', p + 4, p + 8);
    if (type === 'tEXt') {
      const data = buf.subarray(p + 8, p + 8 + len);
      const z = data.indexOf(0);
      if (z > 0) out[data.toString('latin1', 0, z)] = data.toString('latin1', z + 1);
    }
    if (type === 'IEND') break;
    p += 12 + len;
  }
  return out;
}

/** RGB floats in [0,1] (H·W·3, row-major) → PNG bytes with optional text chunks. */
export function encodeRgbPng(
  rgb: Float32Array | number[],
  width: number,
  height: number,
  texts: Record<string, string> = {},
): Buffer {
  const png = new PNG({ width, height, colorType: 2, inputHasAlpha: false });
  const data = png.data;
  for (let i = 0; i < width * height; i++) {
    for (let k = 0; k < 3; k++) data[i * 4 + k] = Math.round(Math.min(1, Math.max(0, rgb[i * 3 + k])) * 255);
    data[i * 4 + 3] = 255;
  }
  const bytes = PNG.sync.write(png, { colorType: 2 });
  return Object.keys(texts).length ? addTextChunks(bytes, texts) : bytes;
}

/** PNG bytes → RGBA floats in [0,1] plus size. */
export function decodePng(bytes: Uint8Array): { width: number; height: number; rgba: Float32Array } {
  const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const rgba = new Float32Array(png.width * png.height * 4);
  for (let i = 0; i < rgba.length; i++) rgba[i] = png.data[i] / 255;
  return { width: png.width, height: png.height, rgba };
}
