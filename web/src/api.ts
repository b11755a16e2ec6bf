/**
 * HTTP client for the server: ComfyUI's routes (/object_info, /prompt, /queue, /history, /view,
 * /upload/image, /interrupt, /extensions) and ours (/workflows, /plugins). Adds the API token to every
 * request.
 */
import type { ApiPrompt, History, ImageRef, ObjectInfoMap, QueueResponse, QueueState } from './protocol';
import { serverBase, type Settings } from './settings';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly body: unknown,
  ) {
    super(message);
  }
}

export interface WorkflowEntry {
  name: string;
  modified?: string | number;
  size?: number;
}

/** Message of an error body in the shapes servers use ({error: {message}}, {error: "…"}, {message}). */
export function errorMessage(body: unknown, fallback: string): string {
  if (body && typeof body === 'object') {
    const b = body as { error?: unknown; message?: unknown };
    if (typeof b.error === 'string') return b.error;
    if (b.error && typeof b.error === 'object') {
      const e = b.error as { message?: unknown; details?: unknown };
      if (typeof e.message === 'string') return e.details ? `${e.message}: ${String(e.details)}` : e.message;
    }
    if (typeof b.message === 'string') return b.message;
  }
  if (typeof body === 'string' && body.trim()) return body.trim().slice(0, 300);
  return fallback;
}

/** Encodes a library name that may contain folders ("examples/arithmetic") into a URL path. */
export function workflowPath(name: string): string {
  return `/workflows/${name.split('/').map(encodeURIComponent).join('/')}`;
}

export class Api {
  constructor(private readonly settings: () => Settings) {}

  get base(): string {
    return serverBase(this.settings());
  }

  /** Full URL of a server path, with the token as a query parameter (for <img>, <script>, WebSocket). */
  url(path: string, query: Record<string, string | undefined> = {}, withToken = true): string {
    const u = new URL(this.base + path);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) u.searchParams.set(k, v);
    const token = this.settings().token;
    if (withToken && token) u.searchParams.set('token', token);
    return u.toString();
  }

  wsUrl(clientId: string): string {
    const u = new URL(this.url('/ws', { clientId }));
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    return u.toString();
  }

  viewUrl(ref: ImageRef): string {
    return this.url('/view', {
      filename: ref.filename,
      subfolder: ref.subfolder ?? '',
      type: ref.type ?? 'output',
    });
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const token = this.settings().token;
    return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
  }

  async request(method: string, path: string, body?: unknown, init: RequestInit = {}): Promise<Response> {
    const isForm = typeof FormData !== 'undefined' && body instanceof FormData;
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers: this.headers(body === undefined || isForm ? {} : { 'Content-Type': 'application/json' }),
        body: body === undefined ? undefined : isForm ? (body as FormData) : JSON.stringify(body),
        ...init,
      });
    } catch (err) {
      throw new ApiError(`cannot reach the server at ${this.base} (${(err as Error).message})`, 0, null);
    }
    return res;
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.request(method, path, body);
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text for the error message
    }
    if (!res.ok) {
      const what = `${method} ${path}`;
      const hint = res.status === 401 || res.status === 403 ? ' (check the API token in Settings)' : '';
      throw new ApiError(`${what}: ${errorMessage(parsed, `HTTP ${res.status}`)}${hint}`, res.status, parsed);
    }
    return parsed as T;
  }

  objectInfo(): Promise<ObjectInfoMap> {
    return this.json('GET', '/object_info');
  }

  /** POST /prompt; a 400 throws an ApiError whose body is the server's {error, node_errors}. */
  queuePrompt(body: {
    prompt: ApiPrompt;
    client_id?: string;
    extra_data?: Record<string, unknown>;
    front?: boolean;
  }): Promise<QueueResponse> {
    return this.json('POST', '/prompt', body);
  }

  getQueue(): Promise<QueueState> {
    return this.json('GET', '/queue');
  }

  getHistory(maxItems = 50): Promise<History> {
    return this.json('GET', `/history?max_items=${maxItems}`);
  }

  deleteHistory(ids: string[]): Promise<unknown> {
    return this.json('POST', '/history', { delete: ids });
  }

  /** Cancels pending prompts. */
  deleteQueued(ids: string[]): Promise<unknown> {
    return this.json('POST', '/queue', { delete: ids });
  }

  /** Interrupts the running prompt (only that one when an id is given). */
  interrupt(promptId?: string): Promise<unknown> {
    return this.json('POST', '/interrupt', promptId ? { prompt_id: promptId } : {});
  }

  async uploadImage(file: Blob, name: string, opts: { overwrite?: boolean; subfolder?: string } = {}) {
    const form = new FormData();
    form.append('image', file, name);
    form.append('type', 'input');
    if (opts.subfolder) form.append('subfolder', opts.subfolder);
    if (opts.overwrite) form.append('overwrite', 'true');
    return this.json<{ name: string; subfolder?: string; type?: string }>('POST', '/upload/image', form);
  }

  /** The workflow library. Accepts a list of names or of {name} entries, bare or under `workflows`. */
  async listWorkflows(): Promise<WorkflowEntry[]> {
    const body = await this.json<unknown>('GET', '/workflows');
    const list = Array.isArray(body) ? body : ((body as { workflows?: unknown[] })?.workflows ?? []);
    return list
      .map((x) => (typeof x === 'string' ? { name: x } : (x as WorkflowEntry)))
      .filter((x) => x && typeof x.name === 'string')
      .map((x) => ({ ...x, name: x.name.replace(/\.json$/, '') }));
  }

  getWorkflow(name: string): Promise<unknown> {
    return this.json('GET', workflowPath(name));
  }

  saveWorkflow(name: string, doc: unknown): Promise<unknown> {
    return this.json('PUT', workflowPath(name), doc);
  }

  deleteWorkflow(name: string): Promise<unknown> {
    return this.json('DELETE', workflowPath(name));
  }

  /**
   * Editor extension scripts of the plugin packs: GET /extensions (ComfyUI: a list of paths); when the
   * server has no such route, the `extensions` lists in GET /plugins.
   */
  async listExtensions(): Promise<string[]> {
    const res = await this.request('GET', '/extensions');
    if (res.ok) {
      const body = (await res.json()) as unknown;
      if (Array.isArray(body)) return body.filter((x): x is string => typeof x === 'string');
    }
    const pres = await this.request('GET', '/plugins');
    if (!pres.ok) return [];
    const plugins = (await pres.json()) as unknown;
    const list = Array.isArray(plugins) ? plugins : ((plugins as { plugins?: unknown[] })?.plugins ?? []);
    const out: string[] = [];
    for (const p of list as Record<string, unknown>[]) {
      if (p?.loaded === false || p?.enabled === false) continue;
      const ext = p?.extensions ?? p?.web ?? p?.scripts;
      if (Array.isArray(ext)) for (const e of ext) if (typeof e === 'string') out.push(e);
    }
    return out;
  }
}
