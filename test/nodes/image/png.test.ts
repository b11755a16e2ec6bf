import { addTextChunks, asciiJson, decodePng, encodeRgbPng, readTextChunks } from '../../../nodes/image/png';

describe('PNG with text chunks', () => {
  test('pixels round-trip through 8 bits; text chunks are readable, valid and ASCII', () => {
    const rgb = new Float32Array([0, 0.5, 1, 1, 0, 0, 0.2, 0.4, 0.6, 1, 1, 1]);
    const workflow = { nodes: [{ id: 1, title: 'Größe → 5' }] };
    const png = encodeRgbPng(rgb, 2, 2, {
      prompt: asciiJson({ '1': { class_type: 'X' } }),
      workflow: asciiJson(workflow),
    });
    const texts = readTextChunks(png);
    expect(JSON.parse(texts.workflow)).toEqual(workflow);
    expect(JSON.parse(texts.prompt)).toEqual({ '1': { class_type: 'X' } });
    expect(/^[\x20-\x7e]*$/.test(texts.workflow)).toBe(true);
    const back = decodePng(png);
    expect([back.width, back.height]).toEqual([2, 2]);
    for (let i = 0; i < 4; i++) {
      for (let k = 0; k < 3; k++)
        expect(Math.abs(back.rgba[i * 4 + k] - rgb[i * 3 + k])).toBeLessThanOrEqual(0.5 / 255 + 1e-6);
      expect(back.rgba[i * 4 + 3]).toBe(1);
    }
    expect(() => addTextChunks(png, { '': 'x' })).toThrow(/keyword/);
  });
});
