import {
  parseFrame,
  previewFrame,
  previewFrameWithMetadata,
  previewMetadata,
  textFrame,
} from '../../../server/api/binary-frames';

describe('binary WebSocket frames (ComfyUI layouts, big-endian u32 headers)', () => {
  const image = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);

  test('type 1: event, format (2 = PNG, 1 = JPEG), image bytes', () => {
    const f = previewFrame({ format: 'png', data: image });
    expect([...f.subarray(0, 8)]).toEqual([0, 0, 0, 1, 0, 0, 0, 2]);
    expect([...f.subarray(8)]).toEqual([...image]);
    expect(previewFrame({ format: 'jpeg', data: image }).readUInt32BE(4)).toBe(1);
  });

  test('type 4: event, metadata length, metadata JSON, image bytes', () => {
    const meta = previewMetadata({ format: 'jpeg', data: image }, 'p1', '7');
    expect(meta).toEqual({
      node_id: '7',
      prompt_id: 'p1',
      display_node_id: '7',
      parent_node_id: null,
      real_node_id: '7',
      image_type: 'image/jpeg',
    });
    const f = previewFrameWithMetadata({ format: 'jpeg', data: image }, meta);
    const len = f.readUInt32BE(4);
    expect(f.readUInt32BE(0)).toBe(4);
    expect(JSON.parse(f.subarray(8, 8 + len).toString())).toEqual(meta);
    expect([...f.subarray(8 + len)]).toEqual([...image]);
    expect(parseFrame(f)).toMatchObject({ type: 4, meta });
  });

  test('type 3: event, node id length, node id, text', () => {
    const f = textFrame('12:5', 'a cat é');
    expect(f.readUInt32BE(0)).toBe(3);
    expect(f.readUInt32BE(4)).toBe(4);
    expect(parseFrame(f)).toMatchObject({ type: 3, nodeId: '12:5', text: 'a cat é' });
  });

  test('a view into a larger buffer sends only its own bytes', () => {
    const big = new Uint8Array([9, 9, 1, 2, 3, 9]);
    const f = previewFrame({ format: 'png', data: big.subarray(2, 5) });
    expect([...f.subarray(8)]).toEqual([1, 2, 3]);
  });
});
