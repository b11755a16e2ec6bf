import { decodeBinaryFrame, FrameError } from '../../web/src/binary-frames';

function frame(type: number, second: number, ...rest: Uint8Array[]): Uint8Array {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(type, 0);
  head.writeUInt32BE(second, 4);
  return new Uint8Array(Buffer.concat([head, ...rest]));
}

describe('binary WebSocket frames', () => {
  const img = new Uint8Array([137, 80, 78, 71, 1, 2, 3]);

  test('type 1: legacy preview, format 2 is PNG, no node id', () => {
    const f = decodeBinaryFrame(frame(1, 2, img));
    expect(f).toEqual({ kind: 'preview', mime: 'image/png', image: img });
    expect(decodeBinaryFrame(frame(1, 1, img))).toMatchObject({ mime: 'image/jpeg' });
  });

  test('type 4: preview with metadata names the node and prompt', () => {
    const meta = Buffer.from(
      JSON.stringify({ node_id: '7', display_node_id: '7', prompt_id: 'p1', image_type: 'image/png' }),
    );
    const f = decodeBinaryFrame(frame(4, meta.length, meta, img).buffer as ArrayBuffer);
    expect(f).toEqual({ kind: 'preview', mime: 'image/png', image: img, nodeId: '7', promptId: 'p1' });
  });

  test('type 3: text for a node', () => {
    const id = Buffer.from('12');
    expect(decodeBinaryFrame(frame(3, id.length, id, Buffer.from('héllo')))).toEqual({
      kind: 'text',
      nodeId: '12',
      text: 'héllo',
    });
  });

  test('unknown types pass through; truncated frames are refused', () => {
    expect(decodeBinaryFrame(frame(9, 0))).toEqual({ kind: 'unknown', eventType: 9 });
    expect(() => decodeBinaryFrame(new Uint8Array(4))).toThrow(FrameError);
    expect(() => decodeBinaryFrame(frame(4, 100, Buffer.from('{}')))).toThrow(/metadata runs past the end/);
    expect(() => decodeBinaryFrame(frame(4, 2, Buffer.from('no')))).toThrow(/not JSON/);
  });
});
