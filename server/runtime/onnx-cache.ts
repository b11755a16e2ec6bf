/**
 * On-disk cache of exported ONNX graphs, keyed by a hash of the weights and the configuration, so a model
 * is exported once and re-exported when its weights change.
 *
 * Where (first that applies): `cacheDir` option; DDIT_ONNX_CACHE; `.<checkpoint name>.onnx/` beside the model's
 * source file when known (then older exports of the same kind there are deleted on export: that folder is
 * this checkpoint's alone); else `$XDG_CACHE_HOME/ddit-studio/onnx` (default ~/.cache/…), which keeps the
 * newest few exports of each kind.
 * File names: `<kind>-<first 16 hex digits of the hash>.onnx` (plus `.onnx.data` for large models).
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Module } from './nn/module';
import type { EmitOptions } from './nn/onnx';
import type { OnnxSessionOptions } from './onnx';
import type { OnnxGraph } from './onnx-graph';

/** Bump when the exporters change what they emit, so stale graphs are not reused. */
export const ONNX_EXPORT_VERSION = '1';

export interface OnnxCacheOptions {
  /** Cache folder (overrides DDIT_ONNX_CACHE and the defaults). */
  cacheDir?: string;
  /** The checkpoint the weights came from: exports are cached in `.<name>.onnx/` beside it. */
  source?: string;
}

/** Everything the ONNX-backed model classes take: where to cache, how to run, how to emit. */
export interface OnnxExportSessionOptions extends OnnxCacheOptions, OnnxSessionOptions, EmitOptions {}

/** The hash description of an export: what besides the weights decides the graph. */
export function exportDescription(kind: string, config: unknown, opts: EmitOptions): unknown {
  return { kind, config, contribOps: opts.contribOps ?? true };
}

/** Exports of one kind kept in the shared cache folder. */
const SHARED_KEEP = 4;

export function defaultCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME?.trim() || path.join(os.homedir(), '.cache');
  return path.join(base, 'ddit-studio', 'onnx');
}

/** The folder an export goes to, and whether that folder belongs to one checkpoint. */
export function cacheLocation(opts: OnnxCacheOptions = {}): { dir: string; private: boolean } {
  if (opts.cacheDir) return { dir: path.resolve(opts.cacheDir), private: false };
  const env = process.env.DDIT_ONNX_CACHE?.trim();
  if (env) return { dir: path.resolve(env), private: false };
  if (opts.source) {
    // hidden, so model-file listings (which skip dot names) do not offer the exports as models
    const src = path.resolve(opts.source);
    return { dir: path.join(path.dirname(src), `.${path.basename(src)}.onnx`), private: true };
  }
  return { dir: defaultCacheDir(), private: false };
}

/**
 * SHA-256 over the export version, a description (kind, config, options) and every parameter and buffer of
 * the module: name, shape, layout and float32 bytes.
 */
export function moduleHash(module: Module, describe: unknown): string {
  const h = createHash('sha256');
  h.update(`ddit-onnx/${ONNX_EXPORT_VERSION}\n${JSON.stringify(describe)}\n`);
  for (const [name, p] of module.namedEntries()) {
    h.update(`${name}|${p.shape.join('x')}|${p.layout}\n`);
    const data = p.value.dataSync() as Float32Array;
    h.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return h.digest('hex');
}

// Per module: the tensor storage its parameters had when last hashed, and the hashes computed for it. tfjs
// gives a variable new storage on every assign(), so unchanged storage means unchanged weights and the
// hashes need not be recomputed.
const memo = new WeakMap<Module, { ids: object[]; hashes: Map<string, string> }>();

function storageIds(module: Module): object[] {
  return module.namedEntries().map(([, p]) => p.value.dataId as object);
}

function sameIds(a: object[], b: object[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

/** moduleHash, remembered while the module's weights keep their storage. */
export function cachedModuleHash(module: Module, describe: unknown): string {
  const key = JSON.stringify(describe);
  const ids = storageIds(module);
  let m = memo.get(module);
  if (!m || !sameIds(m.ids, ids)) {
    m = { ids, hashes: new Map() };
    memo.set(module, m);
  }
  let hash = m.hashes.get(key);
  if (!hash) {
    hash = moduleHash(module, describe);
    m.hashes.set(key, hash);
  }
  return hash;
}

/** Whether the module's weights still have the storage they had when `cachedModuleHash` last saw them. */
export function weightsUnchanged(module: Module): boolean {
  const m = memo.get(module);
  return m !== undefined && sameIds(m.ids, storageIds(module));
}

export interface CachedExport {
  file: string;
  /** true when the file was written now, false when it was already there. */
  exported: boolean;
  hash: string;
}

function removeQuietly(file: string): void {
  try {
    fs.rmSync(file, { force: true });
  } catch {
    // another process may hold or have removed it; a leftover file is harmless
  }
}

function prune(dir: string, kind: string, keepFile: string, keep: number): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return;
  }
  const mine = entries
    .filter(
      (f) =>
        f.startsWith(`${kind}-`) &&
        f.endsWith('.onnx') &&
        /^[0-9a-f]{16}\.onnx$/.test(f.slice(kind.length + 1)),
    )
    .map((f) => path.join(dir, f))
    .filter((f) => f !== keepFile)
    .map((f) => ({ f, t: fs.statSync(f, { throwIfNoEntry: false })?.mtimeMs ?? 0 }))
    .sort((a, b) => b.t - a.t);
  for (const { f } of mine.slice(Math.max(0, keep - 1))) {
    removeQuietly(f);
    removeQuietly(`${f}.data`);
  }
}

/**
 * The cached file for (kind, hash), exporting it with `build` when missing. `kind` names the graph
 * (e.g. 'ddit-both', 'vae-decoder') and must be a plain word with dashes.
 */
export function cachedExport(
  kind: string,
  hash: string,
  build: () => OnnxGraph,
  opts: OnnxCacheOptions = {},
): CachedExport {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(kind)) throw new Error(`ONNX cache: bad kind '${kind}'`);
  const { dir, private: own } = cacheLocation(opts);
  const file = path.join(dir, `${kind}-${hash.slice(0, 16)}.onnx`);
  if (fs.existsSync(file)) {
    // touch, so the shared folder keeps what is in use
    const now = new Date();
    try {
      fs.utimesSync(file, now, now);
    } catch {
      // read-only cache folders still serve
    }
    return { file, exported: false, hash };
  }
  build().save(file);
  prune(dir, kind, file, own ? 1 : SHARED_KEEP);
  return { file, exported: true, hash };
}

/** Bytes of an exported model: the graph file plus its external data file, if any. */
export function onnxFileBytes(file: string): number {
  let n = 0;
  for (const f of [file, `${file}.data`]) n += fs.statSync(f, { throwIfNoEntry: false })?.size ?? 0;
  return n;
}
