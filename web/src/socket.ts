/**
 * The WebSocket to the server: announces preview metadata support, decodes text and binary messages,
 * and reconnects with backoff after a server restart. The client id survives reloads of the tab so a
 * running prompt keeps reporting to it.
 */
import { decodeBinaryFrame, type BinaryFrame } from './binary-frames';
import type { WsMessage } from './protocol';

export type SocketState = 'connecting' | 'open' | 'closed';

export interface SocketHandlers {
  message(msg: WsMessage): void;
  binary(frame: BinaryFrame): void;
  state(state: SocketState, detail: { attempt: number; reconnected: boolean }): void;
}

function makeClientId(): string {
  const key = 'ddit.clientId';
  let id = sessionStorage.getItem(key);
  if (!id) {
    id = (crypto.randomUUID?.() ?? Math.random().toString(16).slice(2) + Date.now().toString(16)).replace(
      /-/g,
      '',
    );
    sessionStorage.setItem(key, id);
  }
  return id;
}

export class ServerSocket {
  readonly clientId = makeClientId();
  state: SocketState = 'closed';
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private everOpened = false;
  private stopped = false;

  constructor(
    private readonly url: (clientId: string) => string,
    private readonly on: SocketHandlers,
  ) {}

  connect(): void {
    this.stopped = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.ws?.close();
    this.setState('connecting');
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url(this.clientId));
    } catch {
      this.scheduleReconnect();
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      const reconnected = this.everOpened;
      this.everOpened = true;
      this.attempt = 0;
      ws.send(JSON.stringify({ type: 'feature_flags', data: { supports_preview_metadata: true } }));
      this.state = 'open';
      this.on.state('open', { attempt: 0, reconnected });
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (this.ws !== ws) return;
      if (typeof ev.data === 'string') {
        let msg: WsMessage;
        try {
          msg = JSON.parse(ev.data) as WsMessage;
        } catch {
          return;
        }
        if (msg && typeof msg.type === 'string') this.on.message({ type: msg.type, data: msg.data ?? {} });
      } else if (ev.data instanceof ArrayBuffer) {
        try {
          this.on.binary(decodeBinaryFrame(ev.data));
        } catch (err) {
          console.warn('ddit: bad binary frame:', (err as Error).message);
        }
      }
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (!this.stopped) this.scheduleReconnect();
    };
  }

  /** Closes for good (settings changed: call connect() again). */
  close(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close();
    this.ws = null;
    this.setState('closed');
  }

  private scheduleReconnect(): void {
    this.attempt++;
    this.setState('closed');
    const delay = Math.min(5000, 250 * 2 ** Math.min(this.attempt, 5));
    this.timer = setTimeout(() => this.connect(), delay);
  }

  private setState(s: SocketState): void {
    this.state = s;
    this.on.state(s, { attempt: this.attempt, reconnected: false });
  }
}
