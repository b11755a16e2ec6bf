/**
 * A worker process: owns the engine (and through the node packs the tensor runtime and loaded models) and
 * executes one job at a time for the API process, over Node's IPC channel. The engine and its output cache
 * live as long as the process, so models stay loaded between jobs.
 *
 * Started by ipc/worker-pool.ts with `fork(thisFile, { execArgv: ['--require', 'tsx/cjs'] })`.
 */
import { Engine, NodeRegistry, type EngineEvent, type Logger } from '../../engine';
import type { JobResult } from '../job-queue';
import { loadAllPacks } from '../node-packs';
import type { FromWorker, ToWorker, WorkerConfig, WorkerReady } from './protocol';

const send = (msg: FromWorker): void => {
  if (process.connected) process.send!(msg);
};

const config = JSON.parse(process.env.DDIT_WORKER_CONFIG ?? '{}') as WorkerConfig;
const tag = `[worker ${config.index}]`;
const log: Logger = {
  info: (m) => console.log(`${tag} ${m}`),
  warn: (m) => console.warn(`${tag} ${m}`),
  error: (m) => console.error(`${tag} ${m}`),
  debug: () => {},
};

// The API process is gone (or closed the channel): nobody can receive results any more.
process.on('disconnect', () => process.exit(0));

/**
 * The worker owns the tensor runtime: it picks and starts the backend (DDIT_BACKEND, DDIT_THREADS) before
 * taking jobs, so the first job does not pay for it and /system_stats can say what computes.
 */
async function startRuntime(): Promise<Pick<WorkerReady, 'runtime' | 'runtimeError'>> {
  if (!config.startRuntime)
    return { runtime: null, runtimeError: 'not started by this server (startRuntime off)' };
  try {
    // Required here, not at the top: a host without tensor nodes never loads tfjs.
    const rt = require('../../runtime') as typeof import('../../runtime');
    await rt.initRuntime();
    return { runtime: { ...rt.runtimeInfo() } };
  } catch (err) {
    return { runtime: null, runtimeError: (err as Error).message };
  }
}

let engine: Engine;
let current: { jobId: string; controller: AbortController } | null = null;
let pendingFree: { unloadModels: boolean; freeMemory: boolean } | null = null;

function applyFree(): void {
  if (!pendingFree) return;
  if (pendingFree.unloadModels || pendingFree.freeMemory) engine.cache.clear();
  pendingFree = null;
  if (typeof global.gc === 'function') global.gc();
}

async function runJob(job: Extract<ToWorker, { type: 'run' }>['job']): Promise<void> {
  const controller = new AbortController();
  current = { jobId: job.id, controller };
  let result: JobResult;
  try {
    const r = await engine.run(job.prompt, job.outputsToExecute, {
      promptId: job.id,
      extra: job.extra,
      signal: controller.signal,
      onEvent: (event: EngineEvent) => send({ type: 'event', jobId: job.id, event }),
    });
    result = {
      status: r.status,
      outputs: r.outputs,
      executed: r.executed,
      cached: r.cached,
      error: r.error ?? null,
    };
  } catch (err) {
    // engine.run reports node failures itself; this is a failure of the engine around them.
    const e = err as Error;
    const error = {
      type: e.name || 'Error',
      message: e.message,
      nodeId: null,
      classType: null,
      traceback: (e.stack ?? '').split('\n'),
    };
    send({
      type: 'event',
      jobId: job.id,
      event: {
        type: 'execution_error',
        data: {
          prompt_id: job.id,
          node_id: '',
          node_type: '',
          executed: [],
          exception_message: e.message,
          exception_type: error.type,
          traceback: error.traceback,
          current_inputs: {},
          current_outputs: [],
          timestamp: Date.now(),
        },
      },
    });
    send({
      type: 'event',
      jobId: job.id,
      event: { type: 'executing', data: { prompt_id: job.id, node: null, display_node: null } },
    });
    result = { status: 'error', outputs: {}, executed: [], cached: [], error };
  }
  current = null;
  send({ type: 'result', jobId: job.id, result });
  applyFree();
}

process.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'run':
      if (current) {
        log.error(`asked to run ${msg.job.id} while ${current.jobId} is running`);
        return;
      }
      void runJob(msg.job);
      break;
    case 'cancel':
      if (current?.jobId === msg.jobId) current.controller.abort();
      break;
    case 'free':
      pendingFree = { unloadModels: msg.unloadModels, freeMemory: msg.freeMemory };
      if (!current) applyFree();
      break;
    case 'stats': {
      const m = process.memoryUsage();
      send({
        type: 'stats',
        reqId: msg.reqId,
        stats: { rss: m.rss, heapUsed: m.heapUsed, cacheEntries: engine?.cache.size ?? 0 },
      });
      break;
    }
    case 'shutdown':
      current?.controller.abort();
      process.exit(0);
  }
});

async function main(): Promise<void> {
  const t0 = performance.now();
  const registry = new NodeRegistry();
  const packs = loadAllPacks(registry, config.extraNodePacks ?? [], config.plugins ?? true, log);
  engine = new Engine({ registry, folders: config.folders, log });
  const t1 = performance.now();
  const runtime = await startRuntime();
  const startup = {
    bootMs: Math.round(t0),
    packsMs: Math.round(t1 - t0),
    runtimeMs: Math.round(performance.now() - t1),
    totalMs: Math.round(process.uptime() * 1000),
  };
  send({
    type: 'ready',
    info: {
      pid: process.pid,
      nodeTypes: registry.list().length,
      startup,
      ...runtime,
      plugins: packs.plugins.map((p) => ({ name: p.name, status: p.status, error: p.error })),
    },
  });
}

main().catch((err: Error) => {
  log.error(`failed to start: ${err.stack ?? err.message}`);
  process.exit(1);
});
