/**
 * Process-wide cache of loaded models, keyed by file, mtime and size (and what was loaded from it), so two
 * loader nodes naming the same unchanged file share one copy. An entry is dropped as soon as its value is
 * disposed (the engine cache frees evicted outputs), so a later load reads the file again.
 */
import { fileFingerprint } from '../image/files';

interface Disposable {
  dispose(): void;
  readonly disposed?: boolean;
}

const entries = new Map<string, { fp: string; value: unknown }>();

function alive(v: unknown): boolean {
  if (v === null || typeof v !== 'object') return true;
  const parts = Object.values(v as Record<string, unknown>);
  const own = (v as Disposable).disposed;
  if (own === true) return false;
  // containers of models (a checkpoint's parts): alive while every part is
  return !parts.some((p) => p !== null && typeof p === 'object' && (p as Disposable).disposed === true);
}

/** Returns the cached value for (file, kind) while the file is unchanged and the value alive; else loads it. */
export async function cachedLoad<T>(file: string, kind: string, load: () => T | Promise<T>): Promise<T> {
  const key = `${kind}\0${file}`;
  const fp = fileFingerprint(file);
  const hit = entries.get(key);
  if (hit && hit.fp === fp && alive(hit.value)) return hit.value as T;
  entries.delete(key);
  const value = await load();
  entries.set(key, { fp, value });
  return value;
}

/** Forgets every entry (does not dispose: the values belong to whoever holds them). */
export function clearLoaderCache(): void {
  entries.clear();
}

export function loaderCacheSize(): number {
  return entries.size;
}
