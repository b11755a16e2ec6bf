import * as fs from 'fs';
import * as path from 'path';
import type { Request, Router } from 'express';
import {
  OverrideError,
  applyOverrides,
  isApiPrompt,
  isEditorWorkflow,
  toApiPrompt,
  ConversionError,
} from '../../engine';
import type { ApiContext } from '../context';
import { bodyChecker, HttpError } from '../http-errors';
import { confinedPath, writeAtomic } from '../safe-paths';
import { WorkflowRunRequest } from '../schemas';
import { queuePrompt, type QueueOptions } from './prompt';

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_ .()-]{0,99}$/;
const MAX_DEPTH = 6;

/**
 * A workflow name is a relative path of plain segments (`examples/arithmetic`), without `.json`. Anything
 * else (`..`, dot-files, empty segments, backslashes) is refused before touching the disk.
 */
export function parseWorkflowName(raw: string | string[]): string[] {
  const segs = (Array.isArray(raw) ? raw : raw.split('/')).map((s) => s.trim());
  if (segs.length) segs[segs.length - 1] = segs[segs.length - 1].replace(/\.json$/i, '');
  const name = segs.join('/');
  if (!segs.length || segs.length > MAX_DEPTH || segs.some((s) => !SEGMENT.test(s) || s.endsWith('.'))) {
    throw new HttpError(
      400,
      'invalid_workflow_name',
      `invalid workflow name '${name}': use up to ${MAX_DEPTH} '/'-separated parts of letters, digits, space, _ . ( ) -, not starting with a dot`,
    );
  }
  return segs;
}

function workflowFile(ctx: ApiContext, segs: string[]): string {
  const parts = [...segs];
  parts[parts.length - 1] += '.json';
  return confinedPath(ctx.cfg.workflowsDir, ...parts);
}

function readWorkflow(ctx: ApiContext, segs: string[]): unknown {
  const file = workflowFile(ctx, segs);
  if (!fs.existsSync(file) || !fs.statSync(file).isFile()) {
    throw new HttpError(404, 'not_found', `no workflow '${segs.join('/')}'`);
  }
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new HttpError(
      500,
      'invalid_workflow',
      `workflow '${segs.join('/')}' is not valid JSON: ${(err as Error).message}`,
    );
  }
}

function listWorkflows(root: string): { name: string; size: number; modified: number }[] {
  const out: { name: string; size: number; modified: number }[] = [];
  const walk = (dir: string, rel: string[], depth: number): void => {
    if (depth > MAX_DEPTH || !fs.existsSync(dir)) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue;
      if (e.isDirectory()) walk(path.join(dir, e.name), [...rel, e.name], depth + 1);
      else if (e.isFile() && e.name.endsWith('.json')) {
        const st = fs.statSync(path.join(dir, e.name));
        out.push({ name: [...rel, e.name.slice(0, -5)].join('/'), size: st.size, modified: st.mtimeMs });
      }
    }
  };
  walk(root, [], 1);
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** API format, editor format, or a file holding both ({prompt, workflow}) as the editor saves it. */
function isWorkflowDocument(doc: unknown): boolean {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return false;
  const w = doc as { prompt?: unknown; workflow?: unknown };
  return isApiPrompt(doc) || isEditorWorkflow(doc) || isApiPrompt(w.prompt) || isEditorWorkflow(w.workflow);
}

const checkRun = bodyChecker<QueueOptions & { overrides?: Record<string, unknown> }>(WorkflowRunRequest);

function nameParam(req: Request): string[] {
  return parseWorkflowName((req.params as { name: string | string[] }).name);
}

/** The saved-workflow library over the workflows/ folder, and running a stored workflow by name. */
export function workflowRoutes(r: Router, ctx: ApiContext): void {
  r.get('/workflows', (_req, res) => {
    res.json(listWorkflows(ctx.cfg.workflowsDir));
  });

  r.get('/workflows/*name', (req, res) => {
    res.json(readWorkflow(ctx, nameParam(req)));
  });

  r.put('/workflows/*name', (req, res) => {
    const segs = nameParam(req);
    const doc = req.body;
    if (!isWorkflowDocument(doc)) {
      throw new HttpError(
        400,
        'invalid_workflow',
        'the body must be a workflow: API format {"<id>": {"class_type", "inputs"}} or an editor workflow {nodes, links}',
      );
    }
    const file = workflowFile(ctx, segs);
    const existed = fs.existsSync(file);
    writeAtomic(file, JSON.stringify(doc, null, 2) + '\n');
    res.status(existed ? 200 : 201).json({ name: segs.join('/') });
  });

  r.delete('/workflows/*name', (req, res) => {
    const segs = nameParam(req);
    const file = workflowFile(ctx, segs);
    if (!fs.existsSync(file)) throw new HttpError(404, 'not_found', `no workflow '${segs.join('/')}'`);
    fs.unlinkSync(file);
    res.json({ deleted: segs.join('/') });
  });

  // POST /workflows/<name>/run: queue a stored workflow with input overrides.
  r.post('/workflows/*name', (req, res) => {
    const raw = (req.params as { name: string[] }).name;
    if (raw[raw.length - 1] !== 'run' || raw.length < 2) {
      throw new HttpError(
        404,
        'not_found',
        'POST /workflows/<name>/run runs a workflow; use PUT to save one',
      );
    }
    const segs = parseWorkflowName(raw.slice(0, -1));
    const body = checkRun(req.body);
    const doc = readWorkflow(ctx, segs);
    let prompt;
    try {
      prompt = applyOverrides(toApiPrompt(doc, ctx.registry), body.overrides ?? {});
    } catch (err) {
      if (err instanceof OverrideError || err instanceof ConversionError) {
        res.status(400).json({
          error: { type: 'invalid_overrides', message: err.message, details: '', extra_info: {} },
          node_errors: {},
        });
        return;
      }
      throw err;
    }
    const a = queuePrompt(ctx, prompt, body, segs.join('/'));
    res.status(a.status).json(a.body);
  });
}
