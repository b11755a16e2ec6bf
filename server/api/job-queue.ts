/**
 * The job-queue interface between the API process and the workers that execute jobs.
 *
 * The API process owns the queue order, persistence and clients; a transport only moves one job to an
 * executor and its events and result back. The first transport is local IPC to forked worker processes
 * (ipc/worker-pool.ts); a networked transport (e.g. a Redis list plus pub/sub to workers on other machines)
 * implements the same interface, so the scheduler and the HTTP layer do not change.
 */
import type { ApiPrompt, EngineEvent, UiOutput } from '../engine';
import type { JobError } from './store';

/** What an executor needs to run one job. Plain JSON (plus nothing else), so any transport can carry it. */
export interface JobSpec {
  id: string;
  prompt: ApiPrompt;
  outputsToExecute: string[];
  extra: Record<string, unknown>;
}

export type JobOutcome = 'success' | 'error' | 'interrupted';

export interface JobResult {
  status: JobOutcome;
  outputs: Record<string, UiOutput>;
  executed: string[];
  cached: string[];
  error: JobError | null;
}

/** One executor (a worker process here) as /system_stats reports it. */
export interface ExecutorInfo {
  index: number;
  pid: number | null;
  state: 'starting' | 'idle' | 'busy' | 'stopping' | 'down';
  job: string | null;
  jobsRun: number;
  restarts: number;
  lastExit: string | null;
  /** What the executor said about itself when it became ready (runtime, node types, plugins). */
  info: Record<string, unknown> | null;
  memory?: { rss: number; heapUsed: number };
}

export interface TransportHandlers {
  /** An engine event of a running job, in the order the executor emitted it. */
  event(jobId: string, event: EngineEvent): void;
  /** The job finished (or its executor died); exactly once per submitted job. */
  result(jobId: string, result: JobResult): void;
  /** An executor became free: the scheduler may submit again. */
  capacity(): void;
}

export interface JobTransport {
  readonly name: string;
  start(handlers: TransportHandlers): void;
  /** How many jobs could be submitted right now. */
  capacity(): number;
  /** Hands a job to a free executor; returns its index, or null when none is free. */
  submit(job: JobSpec): number | null;
  /**
   * Asks the executor running this job to stop: cooperative first; if it has not stopped after the grace
   * period it is terminated and restarted, and the job ends as interrupted. False if the job is not running.
   */
  cancel(jobId: string): boolean;
  /** Unload models / free caches between jobs (ComfyUI's POST /free). */
  free(opts: { unloadModels: boolean; freeMemory: boolean }): void;
  executors(): Promise<ExecutorInfo[]>;
  close(): Promise<void>;
}
