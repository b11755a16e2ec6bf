/**
 * Tensor memory: byte sizes, the engine value hooks that let the workflow cache weigh and free tf.Tensor
 * outputs, and live-tensor counting for leak checks in tests and benchmarks.
 */
import { registerValueHooks, ValueHooks } from '../engine/value-hooks';
import { tf } from './tf';

const BYTES_PER_ELEMENT: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8 };

/** Bytes held by a tensor's data (0 once disposed; strings counted by their encoded length). */
export function tensorBytes(t: tf.Tensor): number {
  if (t.isDisposed) return 0;
  if (t.dtype === 'string') {
    let n = 0;
    for (const s of t.dataSync() as unknown as Uint8Array[]) n += s.length;
    return n;
  }
  return t.size * (BYTES_PER_ELEMENT[t.dtype] ?? 4);
}

/** Hooks for server/engine: tf.Tensor values (and tf.Variable) are sized in bytes and disposed on eviction. */
export const tensorValueHooks: ValueHooks = {
  sizeOf(value) {
    return value instanceof tf.Tensor ? tensorBytes(value) : undefined;
  },
  dispose(value) {
    if (!(value instanceof tf.Tensor)) return false;
    if (!value.isDisposed) value.dispose();
    return true;
  },
};

/** Registers tensorValueHooks with the engine (idempotent; initRuntime() calls it). */
export function registerTensorValueHooks(): void {
  registerValueHooks(tensorValueHooks);
}

/** Live tensors in the tfjs engine. */
export function liveTensors(): number {
  return tf.memory().numTensors;
}

export interface TensorDelta<T> {
  result: T;
  /** Live tensors after minus before. */
  tensors: number;
  /** Live bytes after minus before. */
  bytes: number;
}

/** Runs `fn` and reports how many tensors (and bytes) it left alive, including those it returns. */
export async function countNewTensors<T>(fn: () => T | Promise<T>): Promise<TensorDelta<T>> {
  const before = tf.memory();
  const result = await fn();
  const after = tf.memory();
  return { result, tensors: after.numTensors - before.numTensors, bytes: after.numBytes - before.numBytes };
}

/**
 * Runs `fn` `warmup` times (caches and optimiser state may allocate on the first runs), then `runs` more times,
 * and returns the live-tensor growth per run over the measured runs; 0 means no leak.
 */
export async function tensorGrowthPerRun(
  fn: () => unknown | Promise<unknown>,
  { warmup = 1, runs = 3 }: { warmup?: number; runs?: number } = {},
): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const before = liveTensors();
  for (let i = 0; i < runs; i++) await fn();
  return (liveTensors() - before) / runs;
}

/** Throws (naming `label`) when `fn` leaves tensors alive that it does not return. */
export async function expectNoTensorLeak<T>(label: string, fn: () => T | Promise<T>): Promise<T> {
  const { result, tensors } = await countNewTensors(fn);
  const returned = countTensors(result);
  if (tensors !== returned) {
    throw new Error(`${label} leaked ${tensors - returned} tensor(s) (${tensors} new, ${returned} returned)`);
  }
  return result;
}

/** Tensors reachable in a value (tensor, array, plain object), each counted once. */
export function countTensors(value: unknown, seen = new Set<unknown>()): number {
  if (value === null || typeof value !== 'object' || seen.has(value)) return 0;
  seen.add(value);
  if (value instanceof tf.Tensor) return value.isDisposed ? 0 : 1;
  let n = 0;
  for (const v of Array.isArray(value) ? value : Object.values(value)) n += countTensors(v, seen);
  return n;
}
