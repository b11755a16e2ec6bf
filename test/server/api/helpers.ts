import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import WebSocket from 'ws';
import type { Logger } from '../../../server/engine';
import type { ServerConfig } from '../../../server/api/config';
import { startServer, type DditServer } from '../../../server/api/server';
import { parseFrame } from '../../../server/api/binary-frames';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const TEST_PACK = path.join(ROOT, 'test', 'fixtures', 'nodes', 'server-test', 'index.ts');
export const ARITHMETIC = JSON.parse(
  fs.readFileSync(path.join(ROOT, 'workflows', 'examples', 'arithmetic.json'), 'utf8'),
) as Record<string, unknown>;

/** Keeps what the server logged, for assertions and for debugging a failing test. */
export function memoryLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (level: string) => (m: string) => {
    lines.push(`${level}: ${m}`);
  };
  return { lines, info: push('info'), warn: push('warn'), error: push('error'), debug: () => {} };
}

export interface TestServer extends DditServer {
  dir: string;
  logs: string[];
}

/** A real server on a free port with its own folders under a temp dir, and the test node pack loaded. */
export async function startTestServer(opts: Partial<ServerConfig> = {}, dir?: string): Promise<TestServer> {
  dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-server-'));
  const log = memoryLog();
  const server = await startServer({
    host: '127.0.0.1',
    port: 0,
    dataDir: path.join(dir, 'data'),
    outputDir: path.join(dir, 'output'),
    inputDir: path.join(dir, 'input'),
    workflowsDir: path.join(dir, 'workflows'),
    modelsDir: path.join(dir, 'models'),
    webDir: path.join(dir, 'web-dist'),
    extraNodePacks: [TEST_PACK],
    interruptGraceMs: 3000,
    // Most tests run core and test nodes only: skip starting the tensor backend in every worker.
    startRuntime: false,
    log,
    ...opts,
  });
  // Wait for the workers here (the hook has the long timeout), so tests time what they test, not start-up.
  for (const end = Date.now() + 50_000; Date.now() < end; await sleep(50)) {
    const executors = await server.transport.executors();
    if (executors.every((e) => e.state === 'idle' || e.state === 'busy')) break;
  }
  return Object.assign(server, { dir, logs: log.lines });
}

/** Parsed JSON whose shape the assertions check. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Loose = any;

export interface Json {
  status: number;
  body: Loose;
  headers: Headers;
}

export async function request(
  base: string,
  method: string,
  route: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Json> {
  const res = await fetch(base + route, {
    method,
    headers: body !== undefined ? { 'content-type': 'application/json', ...headers } : headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

export type WsMessage =
  { kind: 'json'; type: string; data: Loose } | { kind: 'binary'; frame: ReturnType<typeof parseFrame> };

/** A WebSocket client that records every frame and can wait for one. */
export class WsClient {
  readonly messages: WsMessage[] = [];
  private waiters: { pred: (m: WsMessage) => boolean; resolve: (m: WsMessage) => void }[] = [];
  readonly ws: WebSocket;
  readonly opened: Promise<void>;

  constructor(
    url: string,
    readonly clientId: string,
    opts: { featureFlags?: Record<string, unknown>; headers?: Record<string, string>; query?: string } = {},
  ) {
    const wsUrl = url.replace(/^http/, 'ws') + `/ws?clientId=${clientId}${opts.query ?? ''}`;
    this.ws = new WebSocket(wsUrl, { headers: opts.headers });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => {
        if (opts.featureFlags)
          this.ws.send(JSON.stringify({ type: 'feature_flags', data: opts.featureFlags }));
        resolve();
      });
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    this.ws.on('message', (raw: Buffer, isBinary: boolean) => {
      const m: WsMessage = isBinary
        ? { kind: 'binary', frame: parseFrame(raw) }
        : { kind: 'json', ...(JSON.parse(raw.toString()) as { type: string; data: unknown }) };
      this.messages.push(m);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(m)) return true;
        w.resolve(m);
        return false;
      });
    });
  }

  waitFor(pred: (m: WsMessage) => boolean, what: string, timeoutMs = 20000): Promise<WsMessage> {
    const seen = this.messages.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        const types = this.messages.map((m) => (m.kind === 'json' ? m.type : `binary:${m.frame.type}`));
        reject(new Error(`timed out waiting for ${what}; got ${types.join(', ')}`));
      }, timeoutMs);
      this.waiters.push({
        pred,
        resolve: (m) => {
          clearTimeout(t);
          resolve(m);
        },
      });
    });
  }

  /** ComfyUI's "done" signal for a prompt: executing with node null. */
  waitDone(promptId: string, timeoutMs?: number): Promise<WsMessage> {
    return this.waitFor(
      (m) =>
        m.kind === 'json' && m.type === 'executing' && m.data.node === null && m.data.prompt_id === promptId,
      `executing null for ${promptId}`,
      timeoutMs,
    );
  }

  /** JSON messages about one prompt, as [type, data]. */
  about(promptId: string): [string, Loose][] {
    return this.messages
      .filter(
        (m): m is Extract<WsMessage, { kind: 'json' }> => m.kind === 'json' && m.data?.prompt_id === promptId,
      )
      .map((m) => [m.type, m.data]);
  }

  close(): void {
    this.ws.close();
  }
}

export function delayPrompt(ms: number, tag = 'x'): Record<string, unknown> {
  return {
    '1': { class_type: 'String', inputs: { text: tag } },
    '2': { class_type: 'Delay', inputs: { value: ['1', 0], milliseconds: ms } },
    '3': { class_type: 'ShowText', inputs: { text: ['2', 0] } },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
