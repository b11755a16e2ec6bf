import type { UiOutput } from '../engine';
import type { JobRecord, JobStatus } from './store';

/** extra_data keys that are credentials: never echoed back in /queue, /history or /jobs. */
const SECRET_KEYS = new Set(['auth_token_comfy_org', 'api_key_comfy_org']);

export function publicExtra(extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(extra)) if (!SECRET_KEYS.has(k)) out[k] = v;
  return out;
}

/** ComfyUI's queue item: [number, prompt_id, prompt, extra_data, outputs_to_execute]. */
export function queueItem(job: JobRecord): unknown[] {
  return [job.number, job.id, job.prompt, publicExtra(job.extra), job.outputsToExecute];
}

/** ComfyUI's history entry. Interrupted runs read as errors there, as in ComfyUI. */
export function historyEntry(job: JobRecord): Record<string, unknown> {
  const meta: Record<string, unknown> = {};
  for (const id of Object.keys(job.outputs)) {
    meta[id] = { node_id: id, display_node: id, parent_node: null, real_node_id: id };
  }
  return {
    prompt: queueItem(job),
    outputs: job.outputs,
    status: {
      status_str: job.status === 'success' ? 'success' : 'error',
      completed: job.status === 'success',
      messages: job.messages,
    },
    meta,
  };
}

/** Our statuses and the job API's (ComfyUI /api/jobs): pending, in_progress, completed, failed, cancelled. */
export const JOB_API_STATUS: Record<JobStatus, string> = {
  pending: 'pending',
  running: 'in_progress',
  success: 'completed',
  error: 'failed',
  interrupted: 'failed',
  cancelled: 'cancelled',
};

export function apiStatusToOurs(s: string): JobStatus[] {
  switch (s) {
    case 'pending':
      return ['pending'];
    case 'in_progress':
    case 'running':
      return ['running'];
    case 'completed':
    case 'success':
      return ['success'];
    case 'failed':
      return ['error', 'interrupted'];
    case 'error':
      return ['error'];
    case 'interrupted':
      return ['interrupted'];
    case 'cancelled':
      return ['cancelled'];
    default:
      return [];
  }
}

function outputsSummary(outputs: Record<string, UiOutput>): { count: number; preview: unknown } {
  let count = 0;
  let preview: unknown = null;
  let fallback: unknown = null;
  for (const [nodeId, ui] of Object.entries(outputs)) {
    for (const [mediaType, items] of Object.entries(ui)) {
      if (!Array.isArray(items)) continue;
      for (const item of items) {
        count++;
        if (mediaType !== 'images' || !item || typeof item !== 'object') continue;
        const enriched = { ...(item as object), nodeId, mediaType };
        if ((item as { type?: string }).type === 'output') preview ??= enriched;
        else fallback ??= enriched;
      }
    }
  }
  return { count, preview: preview ?? fallback };
}

/** One job in the job-centric API (ComfyUI's /api/jobs fields, plus ours: priority, position, timing, worker). */
export function jobView(
  job: JobRecord,
  opts: { position?: number; detail?: boolean } = {},
): Record<string, unknown> {
  const { count, preview } = outputsSummary(job.outputs);
  const errorMsg = job.messages.find((m) => m[0] === 'execution_error');
  const wf = (job.extra.extra_pnginfo as { workflow?: { id?: unknown } } | undefined)?.workflow;
  const view: Record<string, unknown> = {
    id: job.id,
    status: JOB_API_STATUS[job.status],
    state: job.status,
    create_time: job.createdAt,
    execution_start_time: job.startedAt,
    execution_end_time: job.finishedAt && job.startedAt ? job.finishedAt : null,
    execution_duration: job.finishedAt && job.startedAt ? (job.finishedAt - job.startedAt) / 1000 : null,
    error_message: job.error?.message ?? null,
    execution_error: errorMsg ? errorMsg[1] : null,
    outputs_count: count,
    preview_output: preview,
    workflow_id: wf?.id ?? null,
    workflow_name: job.workflow,
    number: job.number,
    client_id: job.clientId,
    worker: job.worker,
    webhook_status: job.webhookStatus,
  };
  if (opts.position !== undefined) view.queue_position = opts.position;
  if (opts.detail) {
    view.outputs = job.outputs;
    view.execution_status = historyEntry(job).status;
    view.workflow = { prompt: job.prompt, extra_data: publicExtra(job.extra) };
    view.outputs_to_execute = job.outputsToExecute;
  }
  return view;
}
