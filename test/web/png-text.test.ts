import * as zlib from 'zlib';
import { PNG } from 'pngjs';
import { isPng, readPngText, PngError } from '../../web/src/png-text';
import { pngWithChunks } from '../helpers/png-chunks';

const pngWith = (chunks: { type: string; data: Buffer }[]) => new Uint8Array(pngWithChunks(chunks));

describe('PNG text chunks', () => {
  const workflow = JSON.stringify({ nodes: [{ id: 1, type: 'Int' }], links: [] });

  test('tEXt, zTXt and iTXt (plain and compressed) are read; pngjs still decodes the file', async () => {
    const bytes = pngWith([
      { type: 'tEXt', data: Buffer.concat([Buffer.from('workflow\0'), Buffer.from(workflow, 'latin1')]) },
      { type: 'zTXt', data: Buffer.concat([Buffer.from('prompt\0\0'), zlib.deflateSync('{"1":{}}')]) },
      {
        type: 'iTXt',
        data: Buffer.concat([Buffer.from('caption\0\0\0en\0\0'), Buffer.from('a red círcle', 'utf8')]),
      },
      {
        type: 'iTXt',
        data: Buffer.concat([
          Buffer.from('note\0\x01\0\0\0'),
          zlib.deflateSync(Buffer.from('ünïcode', 'utf8')),
        ]),
      },
    ]);
    expect(isPng(bytes)).toBe(true);
    expect(() => PNG.sync.read(Buffer.from(bytes))).not.toThrow();
    expect(await readPngText(bytes)).toEqual({
      workflow,
      prompt: '{"1":{}}',
      caption: 'a red círcle',
      note: 'ünïcode',
    });
  });

  test('a PNG without text gives nothing; other files are refused', async () => {
    expect(await readPngText(pngWith([]))).toEqual({});
    await expect(readPngText(new Uint8Array([1, 2, 3]))).rejects.toThrow(PngError);
  });
});
