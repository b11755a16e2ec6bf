import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import express from 'express';
import { NodeRegistry } from '../engine';
import { ensureDirs, REPO_ROOT, resolveConfig, type ServerConfig } from './config';
import type { ApiContext } from './context';
import { errorBody, errorHandler } from './http-errors';
import { LocalWorkerPool } from './ipc/worker-pool';
import type { JobTransport } from './job-queue';
import { loadAllPacks } from './node-packs';
import { fileRoutes } from './routes/files';
import { promptRoutes } from './routes/prompt';
import { queueRoutes } from './routes/queue';
import { serverFeatures, systemRoutes } from './routes/system';
import { workflowRoutes } from './routes/workflows';
import { Scheduler } from './scheduler';
import {
  originAllowed,
  originMiddleware,
  requestToken,
  requestUrl,
  tokenMatches,
  tokenMiddleware,
} from './security';
import { mountStatic } from './static';
import { JobStore } from './store';
import { WsHub } from './ws-hub';

export interface DditServer {
  /** http://host:port of the running server. */
  url: string;
  host: string;
  port: number;
  config: ServerConfig;
  scheduler: Scheduler;
  store: JobStore;
  transport: JobTransport;
  /** Jobs found pending (re-queued) and running (marked interrupted) in the database at start. */
  recovered: { resumed: number; interrupted: number };
  close(): Promise<void>;
}

function packageVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string })
      .version;
  } catch {
    return '0.0.0';
  }
}

/** Empties the temp folder at start (as ComfyUI), but only when it is our own, inside the data folder. */
function cleanTemp(cfg: ServerConfig): void {
  if (!cfg.tempDir.startsWith(cfg.dataDir + path.sep)) return;
  fs.rmSync(cfg.tempDir, { recursive: true, force: true });
  fs.mkdirSync(cfg.tempDir, { recursive: true });
}

/**
 * Starts the execution server: HTTP routes at /api/... and at the root, the WebSocket at /ws, worker
 * processes through the job transport (local IPC unless one is given), and the SQLite job store.
 */
export async function startServer(
  options: Partial<ServerConfig> = {},
  deps: { transport?: JobTransport } = {},
): Promise<DditServer> {
  const cfg = resolveConfig(options);
  ensureDirs(cfg);
  cleanTemp(cfg);
  const log = cfg.log;

  // Nodes list their COMBO choices (model files, input images) without a node context, from these
  // variables: point them at this server's folders, in this process and in the workers.
  const folderEnv: Record<string, string> = {
    DDIT_MODELS_DIR: cfg.modelsDir,
    DDIT_INPUT_DIR: cfg.inputDir,
    DDIT_OUTPUT_DIR: cfg.outputDir,
    DDIT_TEMP_DIR: cfg.tempDir,
  };
  const previousEnv = Object.fromEntries(Object.keys(folderEnv).map((k) => [k, process.env[k]]));
  Object.assign(process.env, folderEnv);
  const restoreEnv = (): void => {
    for (const [k, v] of Object.entries(previousEnv)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };

  const registry = new NodeRegistry();
  const packs = loadAllPacks(registry, cfg.extraNodePacks, cfg.plugins, log);
  const store = new JobStore(path.join(cfg.dataDir, 'ddit.db'));
  const transport =
    deps.transport ??
    new LocalWorkerPool({
      workers: cfg.workers,
      folders: { output: cfg.outputDir, input: cfg.inputDir, temp: cfg.tempDir, models: cfg.modelsDir },
      extraNodePacks: cfg.extraNodePacks,
      plugins: cfg.plugins,
      startRuntime: cfg.startRuntime,
      interruptGraceMs: cfg.interruptGraceMs,
      env: { ...folderEnv, ...cfg.workerEnv },
      log,
    });

  // The hub, the scheduler and the context refer to each other through closures.
  const hub = new WsHub({
    serverFlags: () => serverFeatures(ctx),
    greeting: (sid) => {
      const msgs: { type: string; data: unknown }[] = [{ type: 'status', data: scheduler.statusData(sid) }];
      const executing = scheduler.executingFor(sid);
      if (executing) msgs.push({ type: 'executing', data: executing });
      return msgs;
    },
    log,
  });
  const scheduler = new Scheduler(store, transport, hub, {
    log,
    maxHistory: cfg.maxHistory,
    webhookSecret: cfg.webhookSecret,
  });
  const ctx: ApiContext = {
    cfg,
    registry,
    packs,
    scheduler,
    transport,
    store,
    version: packageVersion(),
    startedAt: Date.now(),
  };

  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(originMiddleware(cfg.corsOrigins));
  app.use(tokenMiddleware(cfg.token));
  // ComfyUI clients often post JSON without a JSON content type (Python's urllib): parse every non-multipart body.
  app.use(
    express.json({
      limit: cfg.maxBodyBytes,
      type: (req) => !String(req.headers['content-type'] ?? '').startsWith('multipart/'),
    }),
  );
  const api = express.Router();
  promptRoutes(api, ctx);
  queueRoutes(api, ctx);
  fileRoutes(api, ctx);
  systemRoutes(api, ctx);
  workflowRoutes(api, ctx);
  app.use('/api', api);
  app.use(api);
  mountStatic(app, cfg.webDir, packs.plugins);
  app.use((req, res) => {
    res.status(404).json(errorBody('not_found', `no route ${req.method} ${req.path}`));
  });
  app.use(errorHandler(log));

  const server = http.createServer(app);
  server.on('upgrade', (req, socket, head) => {
    const url = requestUrl(req);
    const reject = (code: number, text: string): void => {
      socket.end(`HTTP/1.1 ${code} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (url.pathname !== '/ws' && url.pathname !== '/api/ws') return reject(404, 'Not Found');
    if (!originAllowed(req, cfg.corsOrigins)) return reject(403, 'Forbidden');
    if (cfg.token !== null && !tokenMatches(requestToken(req, url).token, cfg.token)) {
      return reject(401, 'Unauthorized');
    }
    hub.accept(req, socket, head, url);
  });

  const recovered = scheduler.start();
  if (recovered.resumed || recovered.interrupted) {
    log.info(
      `resumed ${recovered.resumed} pending job(s); ${recovered.interrupted} job(s) that were running when the server stopped are marked interrupted`,
    );
  }

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(cfg.port, cfg.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await scheduler.close();
    store.close();
    restoreEnv();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const hostForUrl = cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host;

  let closing: Promise<void> | null = null;
  return {
    url: `http://${hostForUrl}:${port}`,
    host: cfg.host,
    port,
    config: cfg,
    scheduler,
    store,
    transport,
    recovered,
    close: () =>
      (closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await hub.close();
        await scheduler.close();
        await closed;
        store.close();
        restoreEnv();
      })()),
  };
}
