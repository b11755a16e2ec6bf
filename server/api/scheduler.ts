import { randomUUID } from 'crypto';
import type { ApiPrompt, EngineEvent, Logger, Preview } from '../engine';
import type { JobResult, JobTransport } from './job-queue';
import { previewMetadata, type PreviewMetadata } from './binary-frames';
import { FINISHED, type JobRecord, type JobStore, type StatusMessage } from './store';
import { deliverWebhook } from './webhooks';
import { historyEntry } from './views';

/** Where the scheduler's messages go: the WebSocket hub (sid null = every client). */
export interface Relay {
  json(type: string, data: unknown, sid: string | null): void;
  preview(p: Preview, meta: PreviewMetadata, sid: string | null): void;
}

export interface NewJob {
  prompt: ApiPrompt;
  outputsToExecute: string[];
  extra: Record<string, unknown>;
  clientId: string | null;
  promptId?: string;
  number?: number;
  front?: boolean;
  webhook: string | null;
  workflow: string | null;
}

interface NodeProgress {
  value: number;
  max: number;
  state: 'pending' | 'running' | 'finished' | 'error';
  node_id: string;
  prompt_id: string;
  display_node_id: string;
  parent_node_id: string | null;
  real_node_id: string;
}

interface RunState {
  job: JobRecord;
  messages: StatusMessage[];
  nodes: Record<string, NodeProgress>;
  current: string | null;
  /** The engine's closing `executing {node: null}`: held back until the history entry is written. */
  closing: EngineEvent | null;
}

const STATUS_INTERVAL_MS = 25;

/** Events ComfyUI sends only to the prompt's own client (never broadcast when it has none). */
const CLIENT_ONLY = new Set([
  'execution_start',
  'execution_cached',
  'executing',
  'executed',
  'execution_success',
  'execution_error',
]);
/** Events kept in the history entry's status.messages. */
const KEPT = new Set([
  'execution_start',
  'execution_cached',
  'execution_success',
  'execution_error',
  'execution_interrupted',
]);

export class QueueError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export interface SchedulerOptions {
  log: Logger;
  maxHistory: number;
  webhookSecret: string | null;
}

/**
 * The queue: orders pending jobs by priority number (ComfyUI's heap), hands them to the transport as
 * executors free up, relays their events to clients, and writes results to the store.
 */
export class Scheduler {
  /** Pending jobs, by (number, seq). */
  private pending: JobRecord[] = [];
  private readonly running = new Map<string, RunState>();
  private counter = 0;
  private seq = 0;
  private closed = false;
  private statusQueued = false;
  private lastStatusAt = 0;
  private lastStatusSent = -1;
  private finishedSinceTrim = 0;
  private readonly webhooksInFlight = new Set<Promise<void>>();

  constructor(
    private readonly store: JobStore,
    private readonly transport: JobTransport,
    private readonly relay: Relay,
    private readonly opts: SchedulerOptions,
  ) {}

  /** Recovers what a previous run left: running jobs are marked interrupted, pending ones queued again. */
  start(): { resumed: number; interrupted: number } {
    const c = this.store.counters();
    this.seq = c.seq;
    this.counter = c.number + 1;
    const orphans = this.store.withStatus('running');
    for (const job of orphans) {
      const message = 'The server stopped while this job was running';
      this.store.finish(job.id, {
        status: 'interrupted',
        finishedAt: Date.now(),
        outputs: {},
        messages: [
          [
            'execution_interrupted',
            { prompt_id: job.id, node_id: null, node_type: null, executed: [], timestamp: Date.now() },
          ],
        ],
        error: { type: 'ServerRestart', message, nodeId: null, classType: null, traceback: [] },
      });
    }
    this.pending = this.store.withStatus('pending');
    this.transport.start({
      event: (id, e) => this.onEvent(id, e),
      result: (id, r) => this.onResult(id, r),
      capacity: () => this.dispatch(),
    });
    return { resumed: this.pending.length, interrupted: orphans.length };
  }

  submit(req: NewJob): JobRecord {
    if (this.closed) throw new QueueError('the server is shutting down', 503);
    const id = req.promptId ?? randomUUID();
    if (this.store.has(id)) throw new QueueError(`prompt_id '${id}' is already used by another job`);
    let number: number;
    if (req.number !== undefined) number = req.number;
    else {
      number = this.counter++;
      if (req.front) number = -number;
    }
    const job: JobRecord = {
      id,
      seq: ++this.seq,
      number,
      status: 'pending',
      prompt: req.prompt,
      extra: { ...req.extra, create_time: Date.now() },
      outputsToExecute: req.outputsToExecute,
      clientId: req.clientId,
      webhook: req.webhook,
      workflow: req.workflow,
      createdAt: Date.now(),
      startedAt: null,
      finishedAt: null,
      outputs: {},
      messages: [],
      error: null,
      worker: null,
      webhookStatus: null,
    };
    this.store.insert(job);
    this.insertPending(job);
    this.queueStatus();
    this.dispatch();
    return job;
  }

  private insertPending(job: JobRecord): void {
    const before = (a: JobRecord, b: JobRecord): boolean =>
      a.number < b.number || (a.number === b.number && a.seq < b.seq);
    let lo = 0;
    let hi = this.pending.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (before(this.pending[mid], job)) lo = mid + 1;
      else hi = mid;
    }
    this.pending.splice(lo, 0, job);
  }

  private dispatch(): void {
    while (!this.closed && this.pending.length && this.transport.capacity() > 0) {
      const job = this.pending[0];
      const spec = {
        id: job.id,
        prompt: job.prompt,
        outputsToExecute: job.outputsToExecute,
        extra: job.extra,
      };
      const worker = this.transport.submit(spec);
      if (worker === null) break;
      this.pending.shift();
      job.status = 'running';
      job.startedAt = Date.now();
      job.worker = worker;
      this.store.markRunning(job.id, job.startedAt, worker);
      this.running.set(job.id, { job, messages: [], nodes: {}, current: null, closing: null });
      this.queueStatus();
    }
  }

  private onEvent(jobId: string, event: EngineEvent): void {
    const run = this.running.get(jobId);
    if (!run) return;
    const sid = run.job.clientId;
    const data = event.data as Record<string, unknown>;
    if (KEPT.has(event.type)) run.messages.push([event.type, data]);

    switch (event.type) {
      case 'execution_cached':
        for (const n of (data.nodes as string[]) ?? []) this.nodeState(run, n).state = 'finished';
        break;
      case 'executing': {
        const node = data.node as string | null;
        if (node === null) {
          run.closing = event;
          return;
        }
        if (run.current && run.nodes[run.current]?.state === 'running')
          run.nodes[run.current].state = 'finished';
        run.current = node;
        const st = this.nodeState(run, node);
        st.state = 'running';
        if (sid) this.relay.json('executing', data, sid);
        this.sendProgressState(run);
        return;
      }
      case 'progress': {
        const node = data.node as string;
        const st = this.nodeState(run, node);
        st.value = data.value as number;
        st.max = data.max as number;
        this.sendProgressState(run);
        this.relay.json('progress', data, sid);
        const preview = (event as { preview?: Preview }).preview;
        if (preview) this.relay.preview(preview, previewMetadata(preview, jobId, node), sid);
        return;
      }
      case 'executed':
        this.nodeState(run, data.node as string).state = 'finished';
        if (sid) this.relay.json('executed', data, sid);
        this.sendProgressState(run);
        return;
      case 'execution_error':
        if (data.node_id) this.nodeState(run, data.node_id as string).state = 'error';
        break;
      case 'execution_success':
        for (const st of Object.values(run.nodes)) if (st.state === 'running') st.state = 'finished';
        break;
    }
    if (CLIENT_ONLY.has(event.type)) {
      if (sid) this.relay.json(event.type, data, sid);
    } else {
      this.relay.json(event.type, data, sid);
    }
  }

  private nodeState(run: RunState, node: string): NodeProgress {
    return (run.nodes[node] ??= {
      value: 0,
      max: 1,
      state: 'pending',
      node_id: node,
      prompt_id: run.job.id,
      display_node_id: node,
      parent_node_id: null,
      real_node_id: node,
    });
  }

  private sendProgressState(run: RunState): void {
    const nodes: Record<string, NodeProgress> = {};
    for (const [id, st] of Object.entries(run.nodes)) if (st.state !== 'pending') nodes[id] = st;
    this.relay.json('progress_state', { prompt_id: run.job.id, nodes }, run.job.clientId);
  }

  private onResult(jobId: string, result: JobResult): void {
    const run = this.running.get(jobId);
    if (!run) return;
    this.running.delete(jobId);
    const job = run.job;
    job.status = result.status;
    job.finishedAt = Date.now();
    job.outputs = result.outputs;
    job.messages = run.messages;
    job.error = result.error;
    this.store.finish(jobId, {
      status: job.status,
      finishedAt: job.finishedAt,
      outputs: job.outputs,
      messages: job.messages,
      error: job.error,
    });
    if (++this.finishedSinceTrim >= 100) {
      this.finishedSinceTrim = 0;
      this.store.trimHistory(this.opts.maxHistory);
    }
    // As ComfyUI: the history entry exists before the client hears `executing {node: null}`.
    const closing = run.closing ?? {
      type: 'executing',
      data: { prompt_id: jobId, node: null, display_node: null },
    };
    if (job.clientId) this.relay.json('executing', closing.data, job.clientId);
    if (job.webhook) this.sendWebhook(job);
    this.queueStatus();
    this.dispatch();
  }

  private sendWebhook(job: JobRecord): void {
    const url = job.webhook!;
    const payload = {
      prompt_id: job.id,
      status: job.status,
      outputs: job.outputs,
      error: job.error,
      created_at: job.createdAt,
      started_at: job.startedAt,
      finished_at: job.finishedAt,
      history: { [job.id]: historyEntry(job) },
    };
    const p = deliverWebhook(url, payload, { secret: this.opts.webhookSecret, log: this.opts.log })
      .then((status) => {
        if (!this.closed) this.store.setWebhookStatus(job.id, status);
      })
      .finally(() => this.webhooksInFlight.delete(p));
    this.webhooksInFlight.add(p);
  }

  /**
   * ComfyUI's status message goes to every client on each queue change. Under a burst that is most of the
   * WebSocket traffic, so it is sent at most every STATUS_INTERVAL_MS (the last state always goes out) and
   * not repeated when the count did not change.
   */
  private queueStatus(): void {
    if (this.statusQueued || this.closed) return;
    this.statusQueued = true;
    const wait = Math.max(0, this.lastStatusAt + STATUS_INTERVAL_MS - Date.now());
    const send = (): void => {
      this.statusQueued = false;
      if (this.closed) return;
      const remaining = this.queueRemaining();
      if (remaining === this.lastStatusSent) return;
      this.lastStatusAt = Date.now();
      this.lastStatusSent = remaining;
      this.relay.json('status', this.statusData(), null);
    };
    if (wait === 0) setImmediate(send);
    else setTimeout(send, wait).unref();
  }

  statusData(sid?: string): Record<string, unknown> {
    return { status: { exec_info: { queue_remaining: this.queueRemaining() } }, ...(sid ? { sid } : {}) };
  }

  queueRemaining(): number {
    return this.pending.length + this.running.size;
  }

  /** The node a client's running prompt is on, for a client that (re)connects mid-run. */
  executingFor(sid: string): Record<string, unknown> | null {
    for (const run of this.running.values()) {
      if (run.job.clientId === sid && run.current) {
        return { node: run.current, display_node: run.current, prompt_id: run.job.id };
      }
    }
    return null;
  }

  runningJobs(): JobRecord[] {
    return [...this.running.values()].map((r) => r.job);
  }

  pendingJobs(): JobRecord[] {
    return [...this.pending];
  }

  /** Position in the pending queue (0 = next), or undefined. */
  positionOf(id: string): number | undefined {
    const i = this.pending.findIndex((j) => j.id === id);
    return i < 0 ? undefined : i;
  }

  get(id: string): JobRecord | undefined {
    return this.running.get(id)?.job ?? this.pending.find((j) => j.id === id) ?? this.store.get(id);
  }

  /** POST /interrupt: the given prompt if it is running, else every running prompt. */
  interrupt(promptId?: string): string[] {
    const ids = promptId ? (this.running.has(promptId) ? [promptId] : []) : [...this.running.keys()];
    return ids.filter((id) => this.transport.cancel(id));
  }

  /** Cancels a job wherever it is: removed if pending, interrupted if running. */
  cancel(id: string): boolean {
    if (this.removePending([id]).length) return true;
    if (this.running.has(id)) return this.transport.cancel(id);
    return false;
  }

  /** Removes pending jobs (POST /queue delete); they are kept as cancelled in /jobs. */
  removePending(ids: string[]): string[] {
    const want = new Set(ids);
    const removed: string[] = [];
    const now = Date.now();
    this.pending = this.pending.filter((j) => {
      if (!want.has(j.id)) return true;
      this.store.cancel(j.id, now);
      removed.push(j.id);
      return false;
    });
    if (removed.length) this.queueStatus();
    return removed;
  }

  clearPending(): number {
    return this.removePending(this.pending.map((j) => j.id)).length;
  }

  /** Moves one pending job: to an explicit priority number, or ahead of / behind every other. */
  setPriority(id: string, to: { number?: number; front?: boolean; back?: boolean }): JobRecord {
    const job = this.pending.find((j) => j.id === id);
    if (!job) throw this.notPending(id);
    const others = this.pending.filter((j) => j !== job);
    let number: number;
    if (to.number !== undefined) number = to.number;
    else if (to.front) number = others.length ? Math.min(...others.map((j) => j.number)) - 1 : job.number;
    else number = others.length ? Math.max(...others.map((j) => j.number)) + 1 : job.number;
    job.number = number;
    this.store.setNumber(id, number);
    this.pending = others;
    this.insertPending(job);
    this.queueStatus();
    return job;
  }

  /** Puts the listed pending jobs at the head of the queue in the given order; the rest keep theirs. */
  reorder(ids: string[]): JobRecord[] {
    if (new Set(ids).size !== ids.length) throw new QueueError('prompt_ids lists a job more than once');
    const jobs = ids.map((id) => this.pending.find((j) => j.id === id));
    const missing = ids.filter((_, i) => !jobs[i]);
    if (missing.length) throw this.notPending(missing.join(', '));
    const rest = this.pending.filter((j) => !ids.includes(j.id));
    const base = (rest.length ? Math.min(...rest.map((j) => j.number)) : 0) - ids.length - 1;
    jobs.forEach((job, i) => {
      job!.number = base + i;
      this.store.setNumber(job!.id, job!.number);
    });
    this.pending = [...(jobs as JobRecord[]), ...rest];
    this.queueStatus();
    return this.pendingJobs();
  }

  private notPending(id: string): QueueError {
    const job = this.store.get(id.split(', ')[0]);
    if (!job) return new QueueError(`no job with id ${id}`, 404);
    return new QueueError(
      `job ${id} is not pending (it is ${job.status}); only pending jobs can be reordered`,
      409,
    );
  }

  free(opts: { unloadModels: boolean; freeMemory: boolean }): void {
    this.transport.free(opts);
  }

  isFinished(job: JobRecord): boolean {
    return FINISHED.includes(job.status);
  }

  /**
   * Stops: running jobs are recorded as interrupted (pending ones stay queued for the next start), executors
   * are stopped, outstanding webhook deliveries are awaited briefly.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const run of this.running.values()) {
      const now = Date.now();
      const message = 'The server shut down while this job was running';
      this.store.finish(run.job.id, {
        status: 'interrupted',
        finishedAt: now,
        outputs: {},
        messages: [
          ...run.messages,
          [
            'execution_interrupted',
            { prompt_id: run.job.id, node_id: run.current, node_type: null, executed: [], timestamp: now },
          ],
        ],
        error: { type: 'ServerShutdown', message, nodeId: run.current, classType: null, traceback: [] },
      });
    }
    this.running.clear();
    await this.transport.close();
    const timeout = new Promise((r) => setTimeout(r, 2000).unref());
    await Promise.race([Promise.allSettled([...this.webhooksInFlight]), timeout]);
  }
}
