import { disposableLeaves, disposeValue, sizeOfValue } from './value-hooks';
import type { UiOutput } from './types';

export interface CacheEntry {
  outputs: unknown[];
  ui?: UiOutput;
  bytes: number;
}

export interface CacheLimits {
  maxEntries: number;
  maxBytes: number;
}

/**
 * Node outputs by structural key, bounded by entry count and by bytes (least recently used goes first).
 * A value shared by several entries (a node that passes its input through) is freed only when the
 * last entry holding it leaves.
 */
export class OutputCache {
  private readonly entries = new Map<string, CacheEntry>();
  private readonly refs = new Map<object, number>();
  private bytes = 0;
  /** Keys that must not be evicted right now (the run in progress still needs them). */
  private readonly pinned = new Set<string>();

  constructor(public limits: CacheLimits = { maxEntries: 500, maxBytes: 2 * 1024 ** 3 }) {}

  get size(): number {
    return this.entries.size;
  }

  get totalBytes(): number {
    return this.bytes;
  }

  get(key: string): CacheEntry | undefined {
    const e = this.entries.get(key);
    if (e) {
      this.entries.delete(key);
      this.entries.set(key, e);
    }
    return e;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  set(key: string, outputs: unknown[], ui?: UiOutput): void {
    if (this.entries.has(key)) this.delete(key);
    let bytes = 0;
    for (const v of outputs) bytes += sizeOfValue(v);
    for (const leaf of disposableLeaves(outputs)) this.refs.set(leaf, (this.refs.get(leaf) ?? 0) + 1);
    this.entries.set(key, { outputs, ui, bytes });
    this.bytes += bytes;
    this.evict();
  }

  pin(keys: Iterable<string>): void {
    for (const k of keys) this.pinned.add(k);
  }

  unpinAll(): void {
    this.pinned.clear();
    this.evict();
  }

  delete(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.bytes -= e.bytes;
    for (const leaf of disposableLeaves(e.outputs)) {
      const n = (this.refs.get(leaf) ?? 1) - 1;
      if (n <= 0) {
        this.refs.delete(leaf);
        disposeValue(leaf);
      } else this.refs.set(leaf, n);
    }
  }

  /** True when some cache entry still holds this value (so a node must not free it). */
  holds(value: object): boolean {
    return this.refs.has(value);
  }

  clear(): void {
    for (const k of [...this.entries.keys()]) this.delete(k);
  }

  private evict(): void {
    if (this.entries.size <= this.limits.maxEntries && this.bytes <= this.limits.maxBytes) return;
    for (const key of [...this.entries.keys()]) {
      if (this.entries.size <= this.limits.maxEntries && this.bytes <= this.limits.maxBytes) break;
      if (this.pinned.has(key)) continue;
      this.delete(key);
    }
  }
}
