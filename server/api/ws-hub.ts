import { randomUUID } from 'crypto';
import type { IncomingMessage } from 'http';
import type { Duplex } from 'stream';
import { WebSocketServer, WebSocket } from 'ws';
import type { Logger, Preview } from '../engine';
import { previewFrame, previewFrameWithMetadata, type PreviewMetadata } from './binary-frames';

interface Client {
  ws: WebSocket;
  sid: string;
  /** What the client announced in its first message (ComfyUI's feature_flags). */
  flags: Record<string, unknown>;
  firstMessageSeen: boolean;
}

export interface HubOptions {
  /** The server's own feature flags, sent in reply to a client's. */
  serverFlags(): Record<string, unknown>;
  /** Messages a client gets right after connecting (status with its sid, the node it is waiting on). */
  greeting(sid: string): { type: string; data: unknown }[];
  log: Logger;
}

/** Frames waiting in a socket beyond this are not worth adding previews to; beyond the hard limit, drop it. */
const PREVIEW_BACKLOG = 8 * 1024 * 1024;
const HARD_BACKLOG = 64 * 1024 * 1024;

/**
 * The WebSocket side of the API: ComfyUI's /ws. A message addressed to a client id goes to that socket
 * only; an unaddressed one (sid null) goes to every socket.
 */
export class WsHub {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  private readonly clients = new Map<string, Client>();

  constructor(private readonly opts: HubOptions) {}

  get size(): number {
    return this.clients.size;
  }

  /** Completes an upgrade the HTTP layer has already authorised. */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const asked = url.searchParams.get('clientId');
      const sid = asked && asked.length <= 256 ? asked : randomUUID().replace(/-/g, '');
      const client: Client = { ws, sid, flags: {}, firstMessageSeen: false };
      this.clients.get(sid)?.ws.close(4000, 'replaced by a newer connection with the same clientId');
      this.clients.set(sid, client);
      ws.on('message', (raw, isBinary) => this.onMessage(client, raw as Buffer, isBinary));
      ws.on('close', () => {
        if (this.clients.get(sid) === client) this.clients.delete(sid);
      });
      ws.on('error', (err) => this.opts.log.debug(`ws ${sid}: ${err.message}`));
      for (const m of this.opts.greeting(sid)) this.write(client, JSON.stringify(m));
    });
  }

  private onMessage(client: Client, raw: Buffer, isBinary: boolean): void {
    const first = !client.firstMessageSeen;
    client.firstMessageSeen = true;
    if (isBinary) return;
    let msg: { type?: unknown; data?: unknown };
    try {
      msg = JSON.parse(raw.toString('utf8'));
    } catch {
      return;
    }
    // Only the first message may announce features, as in ComfyUI.
    if (first && msg?.type === 'feature_flags' && msg.data && typeof msg.data === 'object') {
      client.flags = msg.data as Record<string, unknown>;
      this.write(client, JSON.stringify({ type: 'feature_flags', data: this.opts.serverFlags() }));
    }
  }

  private write(client: Client, data: string | Buffer): void {
    const ws = client.ws;
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > HARD_BACKLOG) {
      this.opts.log.warn(`ws ${client.sid}: client is not reading; disconnecting it`);
      ws.terminate();
      return;
    }
    ws.send(data);
  }

  private targets(sid: string | null): Client[] {
    if (sid === null) return [...this.clients.values()];
    const c = this.clients.get(sid);
    return c ? [c] : [];
  }

  json(type: string, data: unknown, sid: string | null): void {
    const targets = this.targets(sid);
    if (!targets.length) return;
    const text = JSON.stringify({ type, data });
    for (const c of targets) this.write(c, text);
  }

  /** A preview image: type 4 with metadata for clients that asked for it, type 1 for the others. */
  preview(p: Preview, meta: PreviewMetadata, sid: string | null): void {
    let legacy: Buffer | null = null;
    let withMeta: Buffer | null = null;
    for (const c of this.targets(sid)) {
      if (c.ws.bufferedAmount > PREVIEW_BACKLOG) continue;
      if (c.flags.supports_preview_metadata === true) {
        this.write(c, (withMeta ??= previewFrameWithMetadata(p, meta)));
      } else {
        this.write(c, (legacy ??= previewFrame(p)));
      }
    }
  }

  async close(): Promise<void> {
    for (const c of this.clients.values()) c.ws.terminate();
    this.clients.clear();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
