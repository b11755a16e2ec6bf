import { createHash, timingSafeEqual } from 'crypto';
import type { IncomingMessage } from 'http';
import type { NextFunction, Request, Response } from 'express';
import { isLoopbackHost } from './config';
import { errorBody } from './http-errors';

export const TOKEN_COOKIE = 'ddit_token';

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Constant-time comparison (of digests, so lengths do not leak either). */
export function tokenMatches(given: string | null, expected: string): boolean {
  return given !== null && timingSafeEqual(digest(given), digest(expected));
}

function cookie(req: IncomingMessage, name: string): string | null {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return null;
}

/** Where a request may carry the token: `Authorization: Bearer`, `?token=`, or the cookie set from ?token=. */
export function requestToken(req: IncomingMessage, url: URL): { token: string | null; fromQuery: boolean } {
  const auth = req.headers.authorization;
  if (auth && /^Bearer\s+/i.test(auth))
    return { token: auth.replace(/^Bearer\s+/i, '').trim(), fromQuery: false };
  const q = url.searchParams.get('token');
  if (q !== null) return { token: q, fromQuery: true };
  return { token: cookie(req, TOKEN_COOKIE), fromQuery: false };
}

export function requestUrl(req: IncomingMessage): URL {
  return new URL(req.url ?? '/', 'http://localhost');
}

/**
 * Every request must carry the token when one is configured. A browser opening `/?token=…` gets it as an
 * HttpOnly, SameSite=Strict cookie so the editor's own requests and WebSocket carry it from then on.
 */
export function tokenMiddleware(token: string | null) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (token === null) return next();
    const url = requestUrl(req);
    const given = requestToken(req, url);
    if (!tokenMatches(given.token, token)) {
      res
        .status(401)
        .set('WWW-Authenticate', 'Bearer')
        .json(
          errorBody(
            'unauthorized',
            'this server requires an API token: send "Authorization: Bearer <token>" or add ?token=<token>',
          ),
        );
      return;
    }
    if (given.fromQuery) {
      res.cookie(TOKEN_COOKIE, given.token!, { httpOnly: true, sameSite: 'strict', path: '/' });
    }
    next();
  };
}

function splitHost(hostPort: string): { host: string; port: string | null } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hostPort.toLowerCase());
  if (!m) return { host: hostPort.toLowerCase(), port: null };
  return { host: m[1].replace(/^\[|\]$/g, ''), port: m[2] ?? null };
}

/**
 * ComfyUI's origin check: a browser page on another site must not be able to drive a server on the
 * user's own machine (browsers let any page POST to 127.0.0.1). When the Host is a loopback address and
 * an Origin is sent, they must name the same host (and port, when both give one). Listed origins pass.
 */
export function originAllowed(req: IncomingMessage, allowedOrigins: string[]): boolean {
  const origin = req.headers.origin;
  const hostHeader = req.headers.host;
  if (!origin || !hostHeader) return true;
  if (allowedOrigins.includes('*') || allowedOrigins.includes(origin)) return true;
  const host = splitHost(hostHeader);
  if (!isLoopbackHost(host.host)) return true;
  let o: URL;
  try {
    o = new URL(origin);
  } catch {
    return false; // "null" (file:// pages, sandboxed frames) and garbage
  }
  const oHost = o.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  const oPort = o.port || null;
  if (oHost !== host.host) return false;
  if (oPort !== null && host.port !== null && oPort !== host.port) return false;
  return true;
}

export function originMiddleware(allowedOrigins: string[]) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!originAllowed(req, allowedOrigins)) {
      res
        .status(403)
        .json(errorBody('forbidden_origin', `requests from origin ${req.headers.origin} are not allowed`));
      return;
    }
    const origin = req.headers.origin;
    if (origin && (allowedOrigins.includes(origin) || allowedOrigins.includes('*'))) {
      res.set({
        'Access-Control-Allow-Origin': origin,
        'Access-Control-Allow-Methods': 'GET, POST, PUT, DELETE, OPTIONS',
        'Access-Control-Allow-Headers': 'Content-Type, Authorization',
        Vary: 'Origin',
      });
      if (req.method === 'OPTIONS') {
        res.status(204).end();
        return;
      }
    }
    next();
  };
}
