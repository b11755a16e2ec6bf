import { createHmac } from 'crypto';
import type { Logger } from '../engine';

/**
 * Completion webhooks. A prompt may name a URL; only hosts the operator listed may be called (so the API
 * cannot be used to reach arbitrary internal services), over http(s) only.
 */
export function checkWebhookUrl(raw: string, allowedHosts: string[]): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return `webhook '${raw}' is not a valid URL`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `webhook '${raw}': only http and https URLs are allowed`;
  }
  if (url.username || url.password) return `webhook '${raw}': credentials in the URL are not allowed`;
  if (!allowedHosts.length) {
    return 'webhooks are disabled on this server: start it with --webhook-hosts <host[:port],...>';
  }
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const ok = allowedHosts.some((h) => h === '*' || h === host || h === `${host}:${port}`);
  return ok ? null : `webhook host '${url.host}' is not in the server's allowed webhook hosts`;
}

export interface WebhookOptions {
  secret: string | null;
  timeoutMs?: number;
  attempts?: number;
  log: Logger;
}

/**
 * POSTs the payload as JSON; retries failures (network errors and 5xx) with a growing pause. Resolves to a
 * short status line that is stored with the job ("delivered 200", "failed: …").
 */
export async function deliverWebhook(url: string, payload: unknown, opts: WebhookOptions): Promise<string> {
  const body = JSON.stringify(payload);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'ddit-studio-webhook',
  };
  if (opts.secret) {
    headers['x-ddit-signature'] = 'sha256=' + createHmac('sha256', opts.secret).update(body).digest('hex');
  }
  const attempts = opts.attempts ?? 3;
  let last = '';
  for (let i = 0; i < attempts; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 500 * 2 ** (i - 1)));
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers,
        body,
        redirect: 'error',
        signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return `delivered ${res.status}`;
      last = `HTTP ${res.status}`;
      if (res.status < 500) break;
    } catch (err) {
      last = (err as Error).message;
    }
  }
  opts.log.warn(`webhook ${url} failed: ${last}`);
  return `failed: ${last}`;
}
