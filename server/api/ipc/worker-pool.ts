import { fork, type ChildProcess } from 'child_process';
import * as path from 'path';
import type { EngineEvent, Logger } from '../../engine';
import type { ExecutorInfo, JobResult, JobSpec, JobTransport, TransportHandlers } from '../job-queue';
import type { PluginsSetting } from '../node-packs';
import type { FromWorker, ToWorker, WorkerConfig, WorkerReady } from './protocol';

export interface WorkerPoolOptions {
  workers: number;
  folders: WorkerConfig['folders'];
  extraNodePacks: string[];
  plugins: PluginsSetting;
  startRuntime: boolean;
  interruptGraceMs: number;
  env: Record<string, string>;
  log: Logger;
}

const ENTRY = path.join(__dirname, 'worker-entry.ts');

interface RunningJob {
  id: string;
  /** The node the job was executing when last heard of (for crash reports). */
  node: string | null;
  nodeType: string | null;
  executed: string[];
  cancelRequested: boolean;
  killTimer: NodeJS.Timeout | null;
  killedForInterrupt: boolean;
  classOf(nodeId: string): string | null;
}

/** One worker process and what it is doing. */
class Slot {
  child: ChildProcess | null = null;
  state: ExecutorInfo['state'] = 'down';
  job: RunningJob | null = null;
  jobsRun = 0;
  restarts = 0;
  /** Consecutive exits before becoming ready: backs restarts off so a broken setup does not spin. */
  failedStarts = 0;
  lastExit: string | null = null;
  info: WorkerReady | null = null;
  restartTimer: NodeJS.Timeout | null = null;
  readonly statsWaiters = new Map<number, (s: { rss: number; heapUsed: number }) => void>();

  constructor(readonly index: number) {}
}

/**
 * The local transport: N forked worker processes, one job each at a time. A worker that exits while running
 * a job (crash, native abort, kill) fails only that job; the slot is restarted and takes the next one.
 */
export class LocalWorkerPool implements JobTransport {
  readonly name = 'local-ipc';
  private readonly slots: Slot[];
  private handlers: TransportHandlers | null = null;
  private closing = false;
  private reqSeq = 0;

  constructor(private readonly opts: WorkerPoolOptions) {
    this.slots = Array.from({ length: opts.workers }, (_, i) => new Slot(i));
  }

  start(handlers: TransportHandlers): void {
    this.handlers = handlers;
    for (const s of this.slots) this.spawn(s);
  }

  private spawn(slot: Slot): void {
    slot.restartTimer = null;
    if (this.closing) return;
    const config: WorkerConfig = {
      index: slot.index,
      folders: this.opts.folders,
      extraNodePacks: this.opts.extraNodePacks,
      plugins: this.opts.plugins,
      startRuntime: this.opts.startRuntime,
    };
    const child = fork(ENTRY, [], {
      execArgv: ['--require', require.resolve('tsx/cjs')],
      env: { ...process.env, ...this.opts.env, DDIT_WORKER_CONFIG: JSON.stringify(config) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    slot.child = child;
    slot.state = 'starting';
    slot.info = null;
    const relay = (stream: NodeJS.ReadableStream | null, level: 'info' | 'warn'): void => {
      let buf = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim()) this.opts.log[level](line);
        }
      });
    };
    relay(child.stdout, 'info');
    relay(child.stderr, 'warn');
    child.on('message', (msg: FromWorker) => this.onMessage(slot, child, msg));
    child.on('error', (err) => this.opts.log.error(`worker ${slot.index}: ${err.message}`));
    child.on('exit', (code, signal) => this.onExit(slot, child, code, signal));
  }

  private onMessage(slot: Slot, child: ChildProcess, msg: FromWorker): void {
    if (slot.child !== child) return;
    switch (msg.type) {
      case 'ready':
        slot.info = msg.info;
        slot.state = 'idle';
        slot.failedStarts = 0;
        this.handlers?.capacity();
        break;
      case 'event': {
        const job = slot.job;
        if (!job || job.id !== msg.jobId) return;
        trackEvent(job, msg.event);
        this.handlers?.event(msg.jobId, msg.event);
        break;
      }
      case 'result': {
        const job = slot.job;
        if (!job || job.id !== msg.jobId) return;
        if (job.killTimer) clearTimeout(job.killTimer);
        slot.job = null;
        slot.state = 'idle';
        slot.jobsRun++;
        this.handlers?.result(msg.jobId, msg.result);
        this.handlers?.capacity();
        break;
      }
      case 'stats':
        slot.statsWaiters.get(msg.reqId)?.(msg.stats);
        slot.statsWaiters.delete(msg.reqId);
        break;
    }
  }

  private onExit(slot: Slot, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (slot.child !== child) return;
    const how = signal ? `signal ${signal}` : `code ${code}`;
    const wasReady = slot.info !== null;
    slot.child = null;
    slot.state = 'down';
    slot.lastExit = `${how} at ${new Date().toISOString()}`;
    for (const w of slot.statsWaiters.values()) w({ rss: 0, heapUsed: 0 });
    slot.statsWaiters.clear();
    const job = slot.job;
    slot.job = null;
    if (job?.killTimer) clearTimeout(job.killTimer);
    // While closing, the scheduler has already recorded its running jobs as interrupted.
    if (this.closing) return;
    if (job) {
      slot.jobsRun++;
      this.failJob(slot, child.pid ?? 0, job, how);
    }
    if (!wasReady) slot.failedStarts++;
    slot.restarts++;
    const delay = slot.failedStarts === 0 ? 0 : Math.min(30_000, 250 * 2 ** slot.failedStarts);
    if (!job) this.opts.log.warn(`worker ${slot.index} exited (${how}); restarting`);
    slot.restartTimer = setTimeout(() => this.spawn(slot), delay);
  }

  /** Reports a job whose worker died as clients expect a failed or interrupted run to look. */
  private failJob(slot: Slot, pid: number, job: RunningJob, how: string): void {
    const h = this.handlers;
    if (!h) return;
    const now = Date.now();
    if (job.killedForInterrupt) {
      const message = `Execution was interrupted; the worker did not stop within ${this.opts.interruptGraceMs} ms and was restarted`;
      this.opts.log.warn(`job ${job.id}: ${message}`);
      h.event(job.id, {
        type: 'execution_interrupted',
        data: {
          prompt_id: job.id,
          node_id: job.node,
          node_type: job.nodeType,
          executed: job.executed,
          timestamp: now,
        },
      });
      h.event(job.id, { type: 'executing', data: { prompt_id: job.id, node: null, display_node: null } });
      const error = {
        type: 'InterruptedError',
        message,
        nodeId: job.node,
        classType: job.nodeType,
        traceback: [],
      };
      h.result(job.id, { status: 'interrupted', outputs: {}, executed: job.executed, cached: [], error });
      return;
    }
    const at = job.node ? ` while running node ${job.node} (${job.nodeType})` : '';
    const message = `The worker process (pid ${pid}) exited with ${how}${at}; the job failed and the worker was restarted`;
    this.opts.log.error(`job ${job.id}: ${message}`);
    h.event(job.id, {
      type: 'execution_error',
      data: {
        prompt_id: job.id,
        node_id: job.node ?? '',
        node_type: job.nodeType ?? '',
        executed: job.executed,
        exception_message: message,
        exception_type: 'WorkerCrashed',
        traceback: [],
        current_inputs: {},
        current_outputs: [],
        timestamp: now,
      },
    });
    h.event(job.id, { type: 'executing', data: { prompt_id: job.id, node: null, display_node: null } });
    const result: JobResult = {
      status: 'error',
      outputs: {},
      executed: job.executed,
      cached: [],
      error: { type: 'WorkerCrashed', message, nodeId: job.node, classType: job.nodeType, traceback: [] },
    };
    h.result(job.id, result);
  }

  capacity(): number {
    return this.slots.filter((s) => s.state === 'idle').length;
  }

  submit(job: JobSpec): number | null {
    const slot = this.slots.find((s) => s.state === 'idle');
    if (!slot || !slot.child) return null;
    slot.state = 'busy';
    slot.job = {
      id: job.id,
      node: null,
      nodeType: null,
      executed: [],
      cancelRequested: false,
      killTimer: null,
      killedForInterrupt: false,
      classOf: (id) => job.prompt[id]?.class_type ?? null,
    };
    this.post(slot, { type: 'run', job });
    return slot.index;
  }

  cancel(jobId: string): boolean {
    const slot = this.slots.find((s) => s.job?.id === jobId);
    if (!slot || !slot.job) return false;
    const job = slot.job;
    if (job.cancelRequested) return true;
    job.cancelRequested = true;
    this.post(slot, { type: 'cancel', jobId });
    const child = slot.child;
    job.killTimer = setTimeout(() => {
      if (slot.job !== job || slot.child !== child || !child) return;
      this.opts.log.warn(`job ${jobId}: worker ${slot.index} ignored the interrupt; killing it`);
      job.killedForInterrupt = true;
      slot.state = 'stopping';
      child.kill('SIGKILL');
    }, this.opts.interruptGraceMs);
    return true;
  }

  free(opts: { unloadModels: boolean; freeMemory: boolean }): void {
    for (const s of this.slots) if (s.child) this.post(s, { type: 'free', ...opts });
  }

  private post(slot: Slot, msg: ToWorker): void {
    try {
      slot.child?.send(msg);
    } catch (err) {
      this.opts.log.warn(`worker ${slot.index}: could not send ${msg.type}: ${(err as Error).message}`);
    }
  }

  async executors(): Promise<ExecutorInfo[]> {
    return Promise.all(
      this.slots.map(async (s) => {
        let memory: ExecutorInfo['memory'];
        if (s.child && s.state !== 'starting') {
          const reqId = ++this.reqSeq;
          memory = await new Promise((resolve) => {
            const t = setTimeout(() => {
              s.statsWaiters.delete(reqId);
              resolve(undefined);
            }, 500);
            s.statsWaiters.set(reqId, (m) => {
              clearTimeout(t);
              resolve(m);
            });
            this.post(s, { type: 'stats', reqId });
          });
        }
        return {
          index: s.index,
          pid: s.child?.pid ?? null,
          state: s.state,
          job: s.job?.id ?? null,
          jobsRun: s.jobsRun,
          restarts: s.restarts,
          lastExit: s.lastExit,
          info: s.info as unknown as Record<string, unknown> | null,
          ...(memory ? { memory } : {}),
        };
      }),
    );
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.slots.map((s) => {
        if (s.restartTimer) clearTimeout(s.restartTimer);
        if (s.job?.killTimer) clearTimeout(s.job.killTimer);
        const child = s.child;
        if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
        return new Promise<void>((resolve) => {
          const force = setTimeout(() => child.kill('SIGKILL'), 2000);
          child.once('exit', () => {
            clearTimeout(force);
            resolve();
          });
          s.state = 'stopping';
          if (child.connected) this.post(s, { type: 'shutdown' });
          else child.kill('SIGTERM');
        });
      }),
    );
  }
}

/** Remembers where a job is, so a crash can be reported against the node that was running. */
function trackEvent(job: RunningJob, event: EngineEvent): void {
  if (event.type !== 'executing') return;
  const node = (event.data as { node: string | null }).node;
  if (node === null) return;
  // The engine announces each node before running it, so the previous one has finished.
  if (job.node !== null && !job.executed.includes(job.node)) job.executed.push(job.node);
  job.node = node;
  job.nodeType = job.classOf(node);
}
