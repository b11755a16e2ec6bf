import * as fs from 'fs';
import * as path from 'path';
import Database from 'better-sqlite3';
import type { ApiPrompt, UiOutput } from '../engine';

export type JobStatus = 'pending' | 'running' | 'success' | 'error' | 'interrupted' | 'cancelled';
export const FINISHED: readonly JobStatus[] = ['success', 'error', 'interrupted'];

export interface JobError {
  type: string;
  message: string;
  nodeId: string | null;
  classType: string | null;
  traceback: string[];
}

/** One status message as ComfyUI's history keeps them: [event type, data]. */
export type StatusMessage = [string, Record<string, unknown>];

export interface JobRecord {
  id: string;
  /** Submission order (ties between equal priority numbers). */
  seq: number;
  /** Queue priority: lower runs first (ComfyUI's `number`). */
  number: number;
  status: JobStatus;
  /** The validated API prompt, defaults filled in. */
  prompt: ApiPrompt;
  extra: Record<string, unknown>;
  outputsToExecute: string[];
  clientId: string | null;
  webhook: string | null;
  /** Name of the saved workflow when run through /workflows/<name>/run. */
  workflow: string | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  outputs: Record<string, UiOutput>;
  messages: StatusMessage[];
  error: JobError | null;
  worker: number | null;
  webhookStatus: string | null;
}

interface Row {
  id: string;
  seq: number;
  number: number;
  status: JobStatus;
  prompt: string;
  extra: string;
  outputs_to_execute: string;
  client_id: string | null;
  webhook: string | null;
  workflow: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  finish_seq: number | null;
  outputs: string | null;
  messages: string | null;
  error: string | null;
  worker: number | null;
  webhook_status: string | null;
}

const SCHEMA_VERSION = 1;

function fromRow(r: Row): JobRecord {
  return {
    id: r.id,
    seq: r.seq,
    number: r.number,
    status: r.status,
    prompt: JSON.parse(r.prompt),
    extra: JSON.parse(r.extra),
    outputsToExecute: JSON.parse(r.outputs_to_execute),
    clientId: r.client_id,
    webhook: r.webhook,
    workflow: r.workflow,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    outputs: r.outputs ? JSON.parse(r.outputs) : {},
    messages: r.messages ? JSON.parse(r.messages) : [],
    error: r.error ? JSON.parse(r.error) : null,
    worker: r.worker,
    webhookStatus: r.webhook_status,
  };
}

export interface JobQuery {
  statuses?: JobStatus[];
  sortBy?: 'created_at' | 'execution_duration';
  order?: 'asc' | 'desc';
  limit?: number;
  offset?: number;
}

/**
 * Jobs and history in one SQLite table (the history is the finished jobs, in finishing order), so both
 * survive a restart. All calls are synchronous (better-sqlite3); each is one short statement.
 */
export class JobStore {
  private readonly db: Database.Database;
  private readonly stmts: Record<string, Database.Statement>;
  private finishSeq: number;

  constructor(file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new Error(`${file} was written by a newer ddit-studio (schema ${version} > ${SCHEMA_VERSION})`);
    }
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        number REAL NOT NULL,
        status TEXT NOT NULL,
        prompt TEXT NOT NULL,
        extra TEXT NOT NULL,
        outputs_to_execute TEXT NOT NULL,
        client_id TEXT,
        webhook TEXT,
        workflow TEXT,
        created_at INTEGER NOT NULL,
        started_at INTEGER,
        finished_at INTEGER,
        finish_seq INTEGER,
        outputs TEXT,
        messages TEXT,
        error TEXT,
        worker INTEGER,
        webhook_status TEXT
      );
      CREATE INDEX IF NOT EXISTS jobs_queue ON jobs(status, number, seq);
      CREATE INDEX IF NOT EXISTS jobs_history ON jobs(finish_seq);
    `);
    this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    const s = (sql: string): Database.Statement => this.db.prepare(sql);
    this.stmts = {
      insert:
        s(`INSERT INTO jobs (id, seq, number, status, prompt, extra, outputs_to_execute, client_id, webhook,
                   workflow, created_at) VALUES (@id, @seq, @number, 'pending', @prompt, @extra,
                   @outputs_to_execute, @client_id, @webhook, @workflow, @created_at)`),
      get: s('SELECT * FROM jobs WHERE id = ?'),
      exists: s('SELECT 1 FROM jobs WHERE id = ?'),
      byStatus: s('SELECT * FROM jobs WHERE status = ? ORDER BY number, seq'),
      start: s(
        `UPDATE jobs SET status = 'running', started_at = ?, worker = ? WHERE id = ? AND status = 'pending'`,
      ),
      requeue: s(`UPDATE jobs SET status = 'pending', started_at = NULL, worker = NULL WHERE id = ?`),
      finish: s(`UPDATE jobs SET status = @status, finished_at = @finished_at, finish_seq = @finish_seq,
                   outputs = @outputs, messages = @messages, error = @error WHERE id = @id`),
      cancel: s(`UPDATE jobs SET status = 'cancelled', finished_at = ? WHERE id = ? AND status = 'pending'`),
      number: s(`UPDATE jobs SET number = ? WHERE id = ? AND status = 'pending'`),
      webhook: s('UPDATE jobs SET webhook_status = ? WHERE id = ?'),
      del: s(`DELETE FROM jobs WHERE id = ? AND status IN ('success', 'error', 'interrupted', 'cancelled')`),
      clearHistory: s(`DELETE FROM jobs WHERE status IN ('success', 'error', 'interrupted', 'cancelled')`),
      historyCount: s(`SELECT COUNT(*) AS n FROM jobs WHERE finish_seq IS NOT NULL`),
      historyPage: s(`SELECT * FROM jobs WHERE finish_seq IS NOT NULL ORDER BY finish_seq LIMIT ? OFFSET ?`),
      trim: s(`DELETE FROM jobs WHERE finish_seq IS NOT NULL AND finish_seq <= ?`),
      maxSeq: s('SELECT COALESCE(MAX(seq), 0) AS seq, COALESCE(MAX(ABS(number)), 0) AS num FROM jobs'),
      maxFinish: s('SELECT COALESCE(MAX(finish_seq), 0) AS n FROM jobs'),
    };
    this.finishSeq = (this.stmts.maxFinish.get() as { n: number }).n;
  }

  /** Highest submission sequence and priority number seen, so counters continue after a restart. */
  counters(): { seq: number; number: number } {
    const r = this.stmts.maxSeq.get() as { seq: number; num: number };
    return { seq: r.seq, number: Math.ceil(r.num) };
  }

  insert(job: JobRecord): void {
    this.stmts.insert.run({
      id: job.id,
      seq: job.seq,
      number: job.number,
      prompt: JSON.stringify(job.prompt),
      extra: JSON.stringify(job.extra),
      outputs_to_execute: JSON.stringify(job.outputsToExecute),
      client_id: job.clientId,
      webhook: job.webhook,
      workflow: job.workflow,
      created_at: job.createdAt,
    });
  }

  has(id: string): boolean {
    return this.stmts.exists.get(id) !== undefined;
  }

  get(id: string): JobRecord | undefined {
    const r = this.stmts.get.get(id) as Row | undefined;
    return r && fromRow(r);
  }

  withStatus(status: JobStatus): JobRecord[] {
    return (this.stmts.byStatus.all(status) as Row[]).map(fromRow);
  }

  markRunning(id: string, at: number, worker: number | null): boolean {
    return this.stmts.start.run(at, worker, id).changes > 0;
  }

  requeue(id: string): void {
    this.stmts.requeue.run(id);
  }

  finish(
    id: string,
    r: {
      status: JobStatus;
      finishedAt: number;
      outputs: Record<string, UiOutput>;
      messages: StatusMessage[];
      error: JobError | null;
    },
  ): void {
    this.stmts.finish.run({
      id,
      status: r.status,
      finished_at: r.finishedAt,
      finish_seq: ++this.finishSeq,
      outputs: JSON.stringify(r.outputs),
      messages: JSON.stringify(r.messages),
      error: r.error ? JSON.stringify(r.error) : null,
    });
  }

  cancel(id: string, at: number): boolean {
    return this.stmts.cancel.run(at, id).changes > 0;
  }

  setNumber(id: string, number: number): void {
    this.stmts.number.run(number, id);
  }

  setWebhookStatus(id: string, status: string): void {
    this.stmts.webhook.run(status, id);
  }

  /** ComfyUI's paging: without an offset, the last `maxItems`; always oldest first. */
  history(maxItems?: number, offset?: number): JobRecord[] {
    const total = (this.stmts.historyCount.get() as { n: number }).n;
    let start = offset ?? -1;
    if (start < 0) start = maxItems !== undefined ? Math.max(0, total - maxItems) : 0;
    const limit = maxItems ?? -1;
    return (this.stmts.historyPage.all(limit, start) as Row[]).map(fromRow);
  }

  deleteFinished(ids: string[]): void {
    const tx = this.db.transaction((list: string[]) => {
      for (const id of list) this.stmts.del.run(id);
    });
    tx(ids);
  }

  clearHistory(): void {
    this.stmts.clearHistory.run();
  }

  /** Keeps the newest `max` finished jobs. */
  trimHistory(max: number): void {
    const cut = this.finishSeq - max;
    if (cut > 0) this.stmts.trim.run(cut);
  }

  /** The job-centric listing (GET /jobs): filter by status, sort, page. */
  query(q: JobQuery): { jobs: JobRecord[]; total: number } {
    const where = q.statuses?.length ? `WHERE status IN (${q.statuses.map(() => '?').join(',')})` : '';
    const dir = q.order === 'asc' ? 'ASC' : 'DESC';
    const orderBy =
      q.sortBy === 'execution_duration'
        ? `COALESCE(finished_at - started_at, -1) ${dir}, seq ${dir}`
        : `created_at ${dir}, seq ${dir}`;
    const args = q.statuses ?? [];
    const total = (this.db.prepare(`SELECT COUNT(*) AS n FROM jobs ${where}`).get(...args) as { n: number })
      .n;
    const rows = this.db
      .prepare(`SELECT * FROM jobs ${where} ORDER BY ${orderBy} LIMIT ? OFFSET ?`)
      .all(...args, q.limit ?? -1, q.offset ?? 0) as Row[];
    return { jobs: rows.map(fromRow), total };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
