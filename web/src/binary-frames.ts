/**
 * Decodes ComfyUI's binary WebSocket frames (big-endian u32 event type first):
 * 1 PREVIEW_IMAGE `[1][format 1=JPEG 2=PNG][image]` (no node id: the executing node is meant),
 * 3 TEXT `[3][id length][node id][utf-8 text]`,
 * 4 PREVIEW_IMAGE_WITH_METADATA `[4][meta length][meta JSON][image]`.
 */
export interface PreviewFrame {
  kind: 'preview';
  mime: string;
  image: Uint8Array;
  /** Present in type-4 frames; type 1 leaves the node to the client (the one executing). */
  nodeId?: string;
  promptId?: string;
}
export interface TextFrame {
  kind: 'text';
  nodeId: string;
  text: string;
}
export interface UnknownFrame {
  kind: 'unknown';
  eventType: number;
}
export type BinaryFrame = PreviewFrame | TextFrame | UnknownFrame;

export class FrameError extends Error {}

export function decodeBinaryFrame(buf: ArrayBuffer | Uint8Array): BinaryFrame {
  const bytes = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  if (bytes.byteLength < 8) throw new FrameError(`binary frame of ${bytes.byteLength} bytes is too short`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const eventType = view.getUint32(0);
  const second = view.getUint32(4);
  switch (eventType) {
    case 1:
      return { kind: 'preview', mime: second === 2 ? 'image/png' : 'image/jpeg', image: bytes.subarray(8) };
    case 3: {
      if (8 + second > bytes.byteLength) throw new FrameError('text frame: node id runs past the end');
      const dec = new TextDecoder();
      return {
        kind: 'text',
        nodeId: dec.decode(bytes.subarray(8, 8 + second)),
        text: dec.decode(bytes.subarray(8 + second)),
      };
    }
    case 4: {
      if (8 + second > bytes.byteLength) throw new FrameError('preview frame: metadata runs past the end');
      let meta: Record<string, unknown>;
      try {
        meta = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + second)));
      } catch {
        throw new FrameError('preview frame: metadata is not JSON');
      }
      const nodeId = meta.display_node_id ?? meta.node_id;
      return {
        kind: 'preview',
        mime: typeof meta.image_type === 'string' ? meta.image_type : 'image/png',
        image: bytes.subarray(8 + second),
        nodeId: nodeId == null ? undefined : String(nodeId),
        promptId: typeof meta.prompt_id === 'string' ? meta.prompt_id : undefined,
      };
    }
    default:
      return { kind: 'unknown', eventType };
  }
}
