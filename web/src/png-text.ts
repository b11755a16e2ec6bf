/**
 * Reads the text chunks of a PNG (tEXt, zTXt, iTXt): images saved by the project (and by ComfyUI)
 * carry their workflow under the `workflow` keyword and the API prompt under `prompt`.
 */
const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

export class PngError extends Error {}

async function inflate(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(new DecompressionStream('deflate'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && SIGNATURE.every((b, i) => bytes[i] === b);
}

export { isPng };

/** All text chunks of a PNG, keyword → text (later chunks win). */
export async function readPngText(bytes: Uint8Array): Promise<Record<string, string>> {
  if (!isPng(bytes)) throw new PngError('not a PNG file');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const latin1 = new TextDecoder('latin1');
  const utf8 = new TextDecoder();
  const out: Record<string, string> = {};
  let pos = 8;
  while (pos + 8 <= bytes.length) {
    const len = view.getUint32(pos);
    const type = latin1.decode(bytes.subarray(pos + 4, pos + 8));
    const start = pos + 8;
    const end = start + len;
    if (end > bytes.length) throw new PngError(`PNG chunk ${type} runs past the end of the file`);
    const data = bytes.subarray(start, end);
    const nul = data.indexOf(0);
    if ((type === 'tEXt' || type === 'zTXt' || type === 'iTXt') && nul > 0) {
      const keyword = latin1.decode(data.subarray(0, nul));
      if (type === 'tEXt') {
        out[keyword] = latin1.decode(data.subarray(nul + 1));
      } else if (type === 'zTXt') {
        out[keyword] = latin1.decode(await inflate(data.subarray(nul + 2)));
      } else {
        const compressed = data[nul + 1] === 1;
        const langEnd = data.indexOf(0, nul + 3);
        const transEnd = langEnd < 0 ? -1 : data.indexOf(0, langEnd + 1);
        if (transEnd >= 0) {
          const body = data.subarray(transEnd + 1);
          out[keyword] = utf8.decode(compressed ? await inflate(body) : body);
        }
      }
    }
    if (type === 'IEND') break;
    pos = end + 4; // skip CRC
  }
  return out;
}
