import type { Router } from 'express';
import type { ApiContext } from '../context';
import { bodyChecker, HttpError } from '../http-errors';
import { QueueError } from '../scheduler';
import {
  ClearDeleteRequest,
  FreeRequest,
  InterruptRequest,
  JobsCancelRequest,
  PriorityRequest,
  ReorderRequest,
} from '../schemas';
import type { JobStatus } from '../store';
import { apiStatusToOurs, historyEntry, jobView, queueItem } from '../views';

const checkClearDelete = bodyChecker<{ clear?: boolean; delete?: string[] }>(ClearDeleteRequest);
const checkInterrupt = bodyChecker<{ prompt_id?: string }>(InterruptRequest);
const checkFree = bodyChecker<{ unload_models?: boolean; free_memory?: boolean }>(FreeRequest);
const checkCancel = bodyChecker<{ job_ids: string[] }>(JobsCancelRequest);
const checkPriority = bodyChecker<{ number?: number; front?: boolean; back?: boolean }>(PriorityRequest);
const checkReorder = bodyChecker<{ prompt_ids: string[] }>(ReorderRequest);

function intParam(v: unknown, name: string, min: number, max: number): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new HttpError(
      400,
      'invalid_request',
      `query parameter '${name}' must be an integer in ${min}..${max}`,
    );
  }
  return n;
}

function queueErrors<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof QueueError) {
      throw new HttpError(err.status, err.status === 404 ? 'not_found' : 'invalid_request', err.message);
    }
    throw err;
  }
}

export function queueRoutes(r: Router, ctx: ApiContext): void {
  const { scheduler, store } = ctx;

  r.get('/queue', (_req, res) => {
    res.json({
      queue_running: scheduler.runningJobs().map(queueItem),
      queue_pending: scheduler.pendingJobs().map(queueItem),
    });
  });

  r.post('/queue', (req, res) => {
    const body = checkClearDelete(req.body);
    if (body.clear) scheduler.clearPending();
    if (body.delete) scheduler.removePending(body.delete);
    res.status(200).end();
  });

  /** Ours: put pending jobs first, in the given order (ComfyUI has no way to reorder its queue). */
  r.post('/queue/reorder', (req, res) => {
    const body = checkReorder(req.body);
    const pending = queueErrors(() => scheduler.reorder(body.prompt_ids));
    res.json({ queue_pending: pending.map(queueItem) });
  });

  r.post('/interrupt', (req, res) => {
    const body = checkInterrupt(req.body);
    const interrupted = scheduler.interrupt(body.prompt_id);
    res.json({ interrupted });
  });

  r.post('/free', (req, res) => {
    const body = checkFree(req.body);
    scheduler.free({ unloadModels: !!body.unload_models, freeMemory: !!body.free_memory });
    res.status(200).end();
  });

  r.get('/history', (req, res) => {
    const maxItems = intParam(req.query.max_items, 'max_items', 0, 1_000_000);
    const offset = intParam(req.query.offset, 'offset', -1, Number.MAX_SAFE_INTEGER);
    const out: Record<string, unknown> = {};
    for (const job of store.history(maxItems, offset)) out[job.id] = historyEntry(job);
    res.json(out);
  });

  r.get('/history/:id', (req, res) => {
    const job = store.get(req.params.id);
    res.json(
      job && job.status !== 'cancelled' && scheduler.isFinished(job) ? { [job.id]: historyEntry(job) } : {},
    );
  });

  r.post('/history', (req, res) => {
    const body = checkClearDelete(req.body);
    if (body.clear) store.clearHistory();
    if (body.delete) store.deleteFinished(body.delete);
    res.status(200).end();
  });

  // The job-centric view (ComfyUI's newer /api/jobs), over the queue and the history at once.
  r.get('/jobs', (req, res) => {
    const statuses: JobStatus[] = [];
    if (typeof req.query.status === 'string' && req.query.status) {
      for (const s of req.query.status.split(',')) {
        const ours = apiStatusToOurs(s.trim());
        if (!ours.length) {
          throw new HttpError(
            400,
            'invalid_request',
            `unknown status '${s}': use pending, in_progress, completed, failed or cancelled`,
          );
        }
        statuses.push(...ours);
      }
    }
    const sortBy = req.query.sort_by ?? 'created_at';
    if (sortBy !== 'created_at' && sortBy !== 'execution_duration') {
      throw new HttpError(400, 'invalid_request', "sort_by must be 'created_at' or 'execution_duration'");
    }
    const order = req.query.sort_order ?? 'desc';
    if (order !== 'asc' && order !== 'desc') {
      throw new HttpError(400, 'invalid_request', "sort_order must be 'asc' or 'desc'");
    }
    const limit = intParam(req.query.limit, 'limit', 1, 10_000);
    const offset = intParam(req.query.offset, 'offset', 0, Number.MAX_SAFE_INTEGER) ?? 0;
    const { jobs, total } = store.query({ statuses, sortBy, order, limit, offset });
    res.json({
      jobs: jobs.map((j) => jobView(scheduler.get(j.id) ?? j, { position: scheduler.positionOf(j.id) })),
      pagination: { offset, limit: limit ?? null, total, has_more: offset + jobs.length < total },
    });
  });

  r.get('/jobs/:id', (req, res) => {
    const job = scheduler.get(req.params.id);
    if (!job) throw new HttpError(404, 'not_found', `no job with id ${req.params.id}`);
    res.json(jobView(job, { position: scheduler.positionOf(job.id), detail: true }));
  });

  r.post('/jobs/cancel', (req, res) => {
    const body = checkCancel(req.body);
    const cancelled = body.job_ids.filter((id) => scheduler.cancel(id));
    res.json({ cancelled });
  });

  r.post('/jobs/:id/cancel', (req, res) => {
    if (!scheduler.get(req.params.id))
      throw new HttpError(404, 'not_found', `no job with id ${req.params.id}`);
    res.json({ cancelled: scheduler.cancel(req.params.id) });
  });

  r.post('/jobs/:id/priority', (req, res) => {
    const body = checkPriority(req.body);
    const job = queueErrors(() => scheduler.setPriority(req.params.id, body));
    res.json(jobView(job, { position: scheduler.positionOf(job.id) }));
  });
}
