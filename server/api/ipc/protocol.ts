import type { EngineEvent } from '../../engine';
import type { PluginsSetting } from '../node-packs';
import type { JobResult, JobSpec } from '../job-queue';

/** How the API process starts a worker: passed as JSON in DDIT_WORKER_CONFIG. */
export interface WorkerConfig {
  index: number;
  folders: { output: string; input: string; temp: string; models: string };
  extraNodePacks: string[];
  plugins: PluginsSetting;
  startRuntime: boolean;
}

export type ToWorker =
  | { type: 'run'; job: JobSpec }
  | { type: 'cancel'; jobId: string }
  | { type: 'free'; unloadModels: boolean; freeMemory: boolean }
  | { type: 'stats'; reqId: number }
  | { type: 'shutdown' };

export interface WorkerReady {
  pid: number;
  nodeTypes: number;
  /** Milliseconds: process boot and imports, node packs, tensor runtime, total until ready. */
  startup: { bootMs: number; packsMs: number; runtimeMs: number; totalMs: number };
  /** runtimeInfo() of the tensor runtime, when it is available. */
  runtime: Record<string, unknown> | null;
  runtimeError?: string;
  plugins: unknown;
}

export type FromWorker =
  | { type: 'ready'; info: WorkerReady }
  | { type: 'event'; jobId: string; event: EngineEvent }
  | { type: 'result'; jobId: string; result: JobResult }
  | { type: 'stats'; reqId: number; stats: { rss: number; heapUsed: number; cacheEntries: number } };
