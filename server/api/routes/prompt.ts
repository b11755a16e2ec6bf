import type { Router } from 'express';
import { ConversionError, isEditorWorkflow, toApiPrompt, validatePrompt, type ApiPrompt } from '../../engine';
import type { ApiContext } from '../context';
import { bodyChecker, errorBody } from '../http-errors';
import { QueueError } from '../scheduler';
import { PromptRequest } from '../schemas';
import { checkWebhookUrl } from '../webhooks';

export interface QueueOptions {
  client_id?: string;
  prompt_id?: string;
  number?: number;
  front?: boolean;
  extra_data?: Record<string, unknown>;
  partial_execution_targets?: string[];
  webhook?: string;
}

export interface QueueAnswer {
  status: number;
  body: Record<string, unknown>;
}

function fail(type: string, message: string, details = '', extra: Record<string, unknown> = {}): QueueAnswer {
  return { status: 400, body: { ...errorBody(type, message, details, extra), node_errors: {} } };
}

/**
 * Validates a prompt and queues it: POST /prompt and POST /workflows/<name>/run. Answers in ComfyUI's
 * shapes: 200 `{prompt_id, number, node_errors}`, 400 `{error, node_errors}`.
 */
export function queuePrompt(
  ctx: ApiContext,
  doc: unknown,
  opts: QueueOptions,
  workflow: string | null = null,
): QueueAnswer {
  if (doc === undefined || doc === null) return fail('no_prompt', 'No prompt provided', 'No prompt provided');
  let prompt: ApiPrompt;
  if (isEditorWorkflow(doc)) {
    try {
      prompt = toApiPrompt(doc, ctx.registry);
    } catch (err) {
      if (err instanceof ConversionError) return fail('invalid_prompt', err.message);
      throw err;
    }
  } else {
    prompt = doc as ApiPrompt;
  }
  if (opts.webhook !== undefined) {
    const problem = checkWebhookUrl(opts.webhook, ctx.cfg.webhookHosts);
    if (problem) return fail('invalid_webhook', problem, 'webhook');
  }
  const validation = validatePrompt(prompt, ctx.registry, { targets: opts.partial_execution_targets });
  if (!validation.ok) {
    return { status: 400, body: { error: validation.error, node_errors: validation.node_errors } };
  }
  try {
    const job = ctx.scheduler.submit({
      prompt: validation.prompt,
      outputsToExecute: validation.outputs,
      extra: opts.extra_data ?? {},
      clientId: opts.client_id ?? null,
      promptId: opts.prompt_id,
      number: opts.number,
      front: opts.front,
      webhook: opts.webhook ?? null,
      workflow,
    });
    return {
      status: 200,
      body: { prompt_id: job.id, number: job.number, node_errors: validation.node_errors },
    };
  } catch (err) {
    if (err instanceof QueueError) {
      const type = err.message.startsWith('prompt_id') ? 'invalid_prompt_id' : 'queue_error';
      return { status: err.status, body: { ...errorBody(type, err.message), node_errors: {} } };
    }
    throw err;
  }
}

const checkPrompt = bodyChecker<QueueOptions & { prompt?: unknown }>(PromptRequest);

export function promptRoutes(r: Router, ctx: ApiContext): void {
  r.get('/prompt', (_req, res) => {
    res.json({ exec_info: { queue_remaining: ctx.scheduler.queueRemaining() } });
  });

  r.post('/prompt', (req, res) => {
    const body = req.body ?? {};
    if (body.prompt === undefined) {
      const a = fail('no_prompt', 'No prompt provided', 'No prompt provided');
      res.status(a.status).json(a.body);
      return;
    }
    let opts: QueueOptions & { prompt?: unknown };
    try {
      opts = checkPrompt(body);
    } catch (err) {
      const e = err as Error & { extra?: Record<string, unknown> };
      const a = fail('invalid_request', e.message, '', e.extra ?? {});
      res.status(a.status).json(a.body);
      return;
    }
    const a = queuePrompt(ctx, opts.prompt, opts);
    res.status(a.status).json(a.body);
  });
}
