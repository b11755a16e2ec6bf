/**
 * Server under load: 50 WebSocket clients, 500 small jobs (a few core nodes each, all different so none is
 * served whole from the cache), submitted 50 at a time over HTTP. Checks that every job completes and that
 * every client receives the full event sequence of each of its jobs, with no errors; prints POST /prompt
 * latency percentiles and throughput. BENCH_CLIENTS, BENCH_JOBS, BENCH_WORKERS override the sizes.
 */
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { monitorEventLoopDelay } from 'perf_hooks';
import WebSocket from 'ws';
import { startServer } from '../../server/api/server';
import { silentLog } from '../../server/api/config';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 50);
const JOBS = Number(process.env.BENCH_JOBS ?? 500);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 1);

function smallJob(i: number): Record<string, unknown> {
  return {
    '1': { class_type: 'Int', inputs: { value: i } },
    '2': { class_type: 'Int', inputs: { value: 7 } },
    '3': { class_type: 'IntMath', inputs: { a: ['1', 0], b: ['2', 0], op: 'multiply' } },
    '4': { class_type: 'ToString', inputs: { value: ['3', 0] } },
    '5': { class_type: 'ShowText', inputs: { text: ['4', 0] } },
  };
}

/** Plain node:http with a keep-alive agent: one connection per submitter, as a client library would hold. */
const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
function post(url: string, payload: unknown): Promise<{ status: number; body: string }> {
  const data = JSON.stringify(payload);
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

const pct = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

interface ClientState {
  ws: WebSocket;
  id: string;
  events: Map<string, string[]>;
  done: Set<string>;
  messages: number;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-load-'));
  const server = await startServer({
    port: 0,
    dataDir: path.join(dir, 'data'),
    outputDir: path.join(dir, 'output'),
    inputDir: path.join(dir, 'input'),
    workers: WORKERS,
    plugins: false,
    startRuntime: false,
    log: silentLog,
  });
  const wsUrl = server.url.replace('http', 'ws');
  try {
    // Wait for the workers, so the figures measure the server rather than process start-up.
    for (let t = 0; t < 600; t++) {
      const stats = (await (await fetch(`${server.url}/system_stats`)).json()) as {
        workers: { state: string }[];
      };
      if (stats.workers.every((w) => w.state === 'idle')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const clients: ClientState[] = await Promise.all(
      Array.from({ length: CLIENTS }, (_, i) => {
        const id = `load-${i}`;
        const ws = new WebSocket(`${wsUrl}/ws?clientId=${id}`);
        const c: ClientState = { ws, id, events: new Map(), done: new Set(), messages: 0 };
        ws.on('message', (raw, isBinary) => {
          c.messages++;
          if (isBinary) return;
          const m = JSON.parse(raw.toString()) as {
            type: string;
            data: { prompt_id?: string; node?: unknown };
          };
          const pid = m.data?.prompt_id;
          if (!pid) return;
          const list = c.events.get(pid) ?? c.events.set(pid, []).get(pid)!;
          list.push(m.type);
          if (m.type === 'executing' && m.data.node === null) c.done.add(pid);
        });
        return new Promise<ClientState>((resolve, reject) => {
          ws.once('open', () => resolve(c));
          ws.once('error', reject);
        });
      }),
    );

    // Open the HTTP connections first (one per submitter, kept alive) so the figures are for queueing, not
    // for TCP set-up under a burst of 50 new connections.
    const warm = performance.now();
    await Promise.all(clients.map(() => post(`${server.url}/queue`, {})));
    const warmMs = performance.now() - warm;
    // The server and these clients share one event loop: its delay bounds what the latencies can show.
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const latencies: number[] = [];
    const owner = new Map<string, ClientState>();
    const t0 = performance.now();
    let next = 0;
    // One submitter per client: 50 requests in flight at a time.
    await Promise.all(
      clients.map(async (c) => {
        while (next < JOBS) {
          const i = next++;
          const start = performance.now();
          const res = await post(`${server.url}/prompt`, { prompt: smallJob(i), client_id: c.id });
          latencies.push(performance.now() - start);
          const body = JSON.parse(res.body) as { prompt_id?: string };
          if (res.status !== 200 || !body.prompt_id) throw new Error(`job ${i}: HTTP ${res.status}`);
          owner.set(body.prompt_id, c);
        }
      }),
    );
    const submitted = performance.now() - t0;
    for (;;) {
      let finished = 0;
      for (const [pid, c] of owner) if (c.done.has(pid)) finished++;
      if (finished === JOBS) break;
      if (performance.now() - t0 > 600_000)
        throw new Error(`only ${finished}/${JOBS} jobs finished in 10 min`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const total = performance.now() - t0;

    // Every client got, for each of its jobs, the whole sequence and no error.
    const expected = ['execution_start', 'execution_cached', 'executing', 'executed', 'execution_success'];
    let problems = 0;
    for (const [pid, c] of owner) {
      const evs = c.events.get(pid) ?? [];
      if (evs.includes('execution_error') || expected.some((t) => !evs.includes(t))) {
        if (problems++ < 5) console.error(`job ${pid} on ${c.id}: events ${evs.join(',')}`);
      }
      for (const other of clients) if (other !== c && other.events.has(pid)) problems++;
    }
    const history = (await (await fetch(`${server.url}/history`)).json()) as Record<
      string,
      { status: { status_str: string } }
    >;
    const succeeded = Object.values(history).filter((h) => h.status.status_str === 'success').length;
    if (succeeded !== JOBS) problems++;

    const sorted = [...latencies].sort((a, b) => a - b);
    const messages = clients.reduce((s, c) => s + c.messages, 0);
    console.log(`clients ${CLIENTS}, jobs ${JOBS}, workers ${WORKERS} (${os.cpus().length} CPU cores)`);
    console.log(`${CLIENTS} concurrent first requests (connection set-up): ${warmMs.toFixed(0)} ms`);
    console.log(
      `POST /prompt latency ms: p50 ${pct(sorted, 50).toFixed(1)}  p90 ${pct(sorted, 90).toFixed(1)}  ` +
        `p99 ${pct(sorted, 99).toFixed(1)}  max ${sorted[sorted.length - 1].toFixed(1)}`,
    );
    console.log(
      `all ${JOBS} submitted in ${(submitted / 1000).toFixed(2)} s; all finished in ${(total / 1000).toFixed(2)} s`,
    );
    console.log(
      `throughput: ${(JOBS / (total / 1000)).toFixed(1)} jobs/s; ${messages} WebSocket frames delivered`,
    );
    console.log(`history: ${succeeded}/${JOBS} succeeded; problems: ${problems}`);
    loop.disable();
    console.log(
      `event-loop delay of the server process ms: p50 ${(loop.percentile(50) / 1e6).toFixed(1)}  ` +
        `p99 ${(loop.percentile(99) / 1e6).toFixed(1)}  max ${(loop.max / 1e6).toFixed(1)}; ` +
        `load average ${os.loadavg()[0].toFixed(1)}`,
    );
    for (const c of clients) c.ws.close();
    if (problems) process.exitCode = 1;
  } finally {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
