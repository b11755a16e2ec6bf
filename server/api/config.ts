import * as fs from 'fs';
import * as path from 'path';
import type { Logger } from '../engine';
import type { PluginsSetting } from './node-packs';

/** Everything `ddit serve` can be told; resolveConfig fills the rest. */
export interface ServerConfig {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** Required when `host` is not a loopback address; when set, every request must carry it. */
  token: string | null;
  /** SQLite database and temp files. */
  dataDir: string;
  outputDir: string;
  inputDir: string;
  tempDir: string;
  modelsDir: string;
  workflowsDir: string;
  /** Built editor served at `/`. */
  webDir: string;
  /** Worker processes (one per device). */
  workers: number;
  /** After a cooperative interrupt, how long a worker may take to stop before it is killed and restarted. */
  interruptGraceMs: number;
  maxUploadBytes: number;
  maxBodyBytes: number;
  /** Hosts (`name` or `name:port`) that completion webhooks may call. Empty: webhooks refused. */
  webhookHosts: string[];
  /** When set, webhook bodies are signed: header `X-DDIT-Signature: sha256=<hex hmac>`. */
  webhookSecret: string | null;
  /** Cross-origin browser pages allowed to call the API (ComfyUI's --enable-cors-header). */
  corsOrigins: string[];
  /** Finished jobs kept in the history (oldest are dropped). */
  maxHistory: number;
  /**
   * Extra node-pack modules (each exporting `nodes`) registered in the API process and every worker,
   * next to the built-in packs: embedding and test fixtures.
   */
  extraNodePacks: string[];
  /** Community packs: the project's plugins.json ($DDIT_PLUGINS) by default; false for none. */
  plugins: PluginsSetting;
  /**
   * Workers start the tensor runtime (backend selection, wasm threads) before taking jobs, so the first job
   * does not pay for it and /system_stats can report it. Off only for hosts that never run tensor nodes.
   */
  startRuntime: boolean;
  /** Environment additions for worker processes (e.g. DDIT_BACKEND). */
  workerEnv: Record<string, string>;
  log: Logger;
}

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i;

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.test(host.replace(/^\[|\]$/g, ''));
}

export const consoleLog: Logger = {
  info: (m) => console.log(m),
  warn: (m) => console.warn(m),
  error: (m) => console.error(m),
  debug: () => {},
};

export const silentLog: Logger = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };

export class ConfigError extends Error {}

/** Defaults: 127.0.0.1:8188, folders relative to the working directory (as ComfyUI), one worker. */
export function resolveConfig(partial: Partial<ServerConfig> = {}): ServerConfig {
  const cwd = process.cwd();
  const dataDir = path.resolve(partial.dataDir ?? path.join(cwd, 'data'));
  const token = partial.token ?? process.env.DDIT_API_TOKEN ?? null;
  const cfg: ServerConfig = {
    host: partial.host ?? '127.0.0.1',
    port: partial.port ?? 8188,
    token: token === '' ? null : token,
    dataDir,
    outputDir: path.resolve(partial.outputDir ?? path.join(cwd, 'output')),
    inputDir: path.resolve(partial.inputDir ?? path.join(cwd, 'input')),
    tempDir: path.resolve(partial.tempDir ?? path.join(dataDir, 'temp')),
    modelsDir: path.resolve(partial.modelsDir ?? path.join(REPO_ROOT, 'models')),
    workflowsDir: path.resolve(partial.workflowsDir ?? path.join(REPO_ROOT, 'workflows')),
    webDir: path.resolve(partial.webDir ?? path.join(REPO_ROOT, 'web', 'dist')),
    workers: partial.workers ?? 1,
    interruptGraceMs: partial.interruptGraceMs ?? 5000,
    maxUploadBytes: partial.maxUploadBytes ?? 100 * 1024 * 1024,
    maxBodyBytes: partial.maxBodyBytes ?? 20 * 1024 * 1024,
    webhookHosts: (partial.webhookHosts ?? envList('DDIT_WEBHOOK_HOSTS')).map((h) => h.toLowerCase()),
    webhookSecret: partial.webhookSecret ?? process.env.DDIT_WEBHOOK_SECRET ?? null,
    corsOrigins: partial.corsOrigins ?? [],
    maxHistory: partial.maxHistory ?? 10000,
    extraNodePacks: (partial.extraNodePacks ?? []).map((p) => path.resolve(p)),
    plugins: partial.plugins ?? true,
    startRuntime: partial.startRuntime ?? true,
    workerEnv: partial.workerEnv ?? {},
    log: partial.log ?? consoleLog,
  };
  if (!Number.isInteger(cfg.port) || cfg.port < 0 || cfg.port > 65535) {
    throw new ConfigError(`port must be an integer in 0..65535, got ${partial.port}`);
  }
  if (!Number.isInteger(cfg.workers) || cfg.workers < 1 || cfg.workers > 64) {
    throw new ConfigError(`workers must be an integer in 1..64, got ${partial.workers}`);
  }
  if (!isLoopbackHost(cfg.host) && !cfg.token) {
    throw new ConfigError(
      `refusing to listen on ${cfg.host} without an API token: pass --token <secret> or set DDIT_API_TOKEN ` +
        '(only loopback addresses may run without one)',
    );
  }
  if (cfg.token !== null && cfg.token.length < 8) {
    throw new ConfigError('the API token must be at least 8 characters long');
  }
  return cfg;
}

function envList(name: string): string[] {
  return (process.env[name] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The image the shipped workflows load (LoadImage "example.png"), kept in the checkout's input/. */
export const EXAMPLE_INPUT = path.resolve(__dirname, '..', '..', 'input', 'example.png');

export function ensureDirs(cfg: ServerConfig): void {
  for (const d of [cfg.dataDir, cfg.outputDir, cfg.inputDir, cfg.tempDir])
    fs.mkdirSync(d, { recursive: true });
  seedExampleInput(cfg.inputDir);
}

/**
 * An input folder elsewhere than the checkout's gets the example image once, so the shipped
 * workflows run as they are; a user's own example.png is never overwritten.
 */
export function seedExampleInput(inputDir: string): void {
  const target = path.join(inputDir, 'example.png');
  if (path.resolve(target) === EXAMPLE_INPUT || fs.existsSync(target) || !fs.existsSync(EXAMPLE_INPUT))
    return;
  try {
    fs.copyFileSync(EXAMPLE_INPUT, target, fs.constants.COPYFILE_EXCL);
  } catch {
    // Another process seeded it first, or the folder is read-only: the workflows then report the missing file.
  }
}
