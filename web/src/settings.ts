/**
 * Where the editor finds its server and how it authenticates: kept in localStorage. A `?token=` (and
 * `?server=`) on the page address is taken over once, so a link can carry them.
 */
export interface Settings {
  /** Base URL of the server; empty means the page's own origin. */
  serverUrl: string;
  /** API token sent as `Authorization: Bearer` and `?token=` (WebSocket, images). */
  token: string;
}

const KEY = 'ddit.settings';

export function loadSettings(): Settings {
  let s: Settings = { serverUrl: '', token: '' };
  try {
    const raw = localStorage.getItem(KEY);
    if (raw) s = { ...s, ...(JSON.parse(raw) as Partial<Settings>) };
  } catch {
    // unreadable settings fall back to the defaults
  }
  const q = new URLSearchParams(location.search);
  const token = q.get('token');
  const server = q.get('server');
  if (token !== null || server !== null) {
    if (token !== null) s.token = token;
    if (server !== null) s.serverUrl = server;
    saveSettings(s);
  }
  return s;
}

export function saveSettings(s: Settings): void {
  localStorage.setItem(KEY, JSON.stringify(s));
}

/** The server's base URL without a trailing slash. */
export function serverBase(s: Settings): string {
  const raw = s.serverUrl.trim();
  if (!raw) return location.origin;
  const withScheme = /^https?:\/\//i.test(raw) ? raw : `http://${raw}`;
  return withScheme.replace(/\/+$/, '');
}
