import type { Preview } from '../engine';

/** ComfyUI's binary WebSocket event ids (protocol.BinaryEventTypes). All integers are big-endian u32. */
export const BinaryEventType = {
  PREVIEW_IMAGE: 1,
  TEXT: 3,
  PREVIEW_IMAGE_WITH_METADATA: 4,
} as const;

/** Image format codes of the legacy preview frame. */
const FORMAT_CODE: Record<Preview['format'], number> = { jpeg: 1, png: 2 };
const MIME: Record<Preview['format'], string> = { jpeg: 'image/jpeg', png: 'image/png' };

export interface PreviewMetadata {
  node_id: string;
  prompt_id: string;
  display_node_id: string;
  parent_node_id: string | null;
  real_node_id: string;
  image_type: string;
}

/** Type 1: `[1][format: 1=JPEG, 2=PNG][image bytes]`; clients skip 8 bytes and show it on the executing node. */
export function previewFrame(p: Preview): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(BinaryEventType.PREVIEW_IMAGE, 0);
  head.writeUInt32BE(FORMAT_CODE[p.format], 4);
  return Buffer.concat([head, Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength)]);
}

export function previewMetadata(p: Preview, promptId: string, nodeId: string): PreviewMetadata {
  return {
    node_id: nodeId,
    prompt_id: promptId,
    display_node_id: nodeId,
    parent_node_id: null,
    real_node_id: nodeId,
    image_type: MIME[p.format],
  };
}

/** Type 4: `[4][metadata length][metadata JSON][image bytes]`, for clients announcing supports_preview_metadata. */
export function previewFrameWithMetadata(p: Preview, meta: PreviewMetadata): Buffer {
  const json = Buffer.from(JSON.stringify(meta), 'utf8');
  const head = Buffer.alloc(8);
  head.writeUInt32BE(BinaryEventType.PREVIEW_IMAGE_WITH_METADATA, 0);
  head.writeUInt32BE(json.length, 4);
  return Buffer.concat([head, json, Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength)]);
}

/** Type 3: `[3][node id length][node id][text]`, ComfyUI's streamed text per node. */
export function textFrame(nodeId: string, text: string): Buffer {
  const id = Buffer.from(nodeId, 'utf8');
  const head = Buffer.alloc(8);
  head.writeUInt32BE(BinaryEventType.TEXT, 0);
  head.writeUInt32BE(id.length, 4);
  return Buffer.concat([head, id, Buffer.from(text, 'utf8')]);
}

/** Reads a frame back (tests, the load benchmark, Node clients). */
export function parseFrame(buf: Buffer): {
  type: number;
  format?: 'jpeg' | 'png';
  meta?: PreviewMetadata;
  nodeId?: string;
  text?: string;
  image?: Buffer;
} {
  const type = buf.readUInt32BE(0);
  if (type === BinaryEventType.PREVIEW_IMAGE) {
    const code = buf.readUInt32BE(4);
    return { type, format: code === 1 ? 'jpeg' : 'png', image: buf.subarray(8) };
  }
  if (type === BinaryEventType.PREVIEW_IMAGE_WITH_METADATA) {
    const len = buf.readUInt32BE(4);
    const meta = JSON.parse(buf.subarray(8, 8 + len).toString('utf8')) as PreviewMetadata;
    return { type, meta, image: buf.subarray(8 + len) };
  }
  if (type === BinaryEventType.TEXT) {
    const len = buf.readUInt32BE(4);
    return {
      type,
      nodeId: buf.subarray(8, 8 + len).toString('utf8'),
      text: buf.subarray(8 + len).toString('utf8'),
    };
  }
  return { type };
}
