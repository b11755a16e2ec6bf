/**
 * Backend selection. initRuntime() tries, in order, each candidate whose package require.resolve finds:
 *   tensorflow: @tensorflow/tfjs-node-gpu, then @tensorflow/tfjs-node (libtensorflow; CUDA for -gpu)
 *   wasm:       @tensorflow/tfjs-backend-wasm, multi-threaded through the Node shim of wasm-threads.ts, with
 *               the missing kernels of wasm-kernels.ts and, when built, the BLAS matmuls of native-kernels.ts
 *   cpu:        tfjs's pure-JS backend (always there)
 * DDIT_BACKEND=tensorflow|wasm|cpu (or auto) forces one and fails loudly when it cannot start.
 * DDIT_THREADS=n sets the wasm thread count (default: every core). A candidate that is installed but fails to
 * start, and a thread count that could not be honoured, are listed in runtimeInfo().fallbacks.
 *
 * Threads and exit: the wasm pool threads are unref'd, so scripts and CLI commands exit on their own.
 * shutdownRuntime() (or runShutdownHooks() from ./shutdown, which test/setup calls after every test file)
 * also terminates them and frees the wasm heap; the runtime may be initialised again afterwards.
 */
import * as os from 'os';
import { tf } from './tf';
import {
  installThreadShim,
  PThreadPool,
  releasePoolWorkers,
  withoutNewProcessListeners,
} from './wasm-threads';
import { registerWasmKernels } from './wasm-kernels';
import { registerNativeKernels } from './native-kernels';
import { registerTensorValueHooks } from './memory';
import { onShutdown, runShutdownHooks } from './shutdown';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export const BACKEND_NAMES: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];

export interface RuntimeInfo {
  /** tfjs backend name in use. */
  backend: BackendName;
  /** npm package that provides it. */
  package: string;
  /** Threads the backend computes with. */
  threads: number;
  tfjsVersion: string;
  /** Human-readable description of where tensors are computed. */
  device: string;
  /** Native kernel library in use, if any: libtensorflow, or the BLAS behind the wasm addon; else null. */
  nativeKernels: string | null;
  /** Candidates that were installed but failed, and degraded settings, in the order they happened. */
  fallbacks: string[];
}

export interface RuntimeOptions {
  /** Overrides DDIT_BACKEND. */
  backend?: BackendName;
  /** Overrides DDIT_THREADS (wasm only). */
  threads?: number;
  /** Give up on a threaded wasm start after this long (default 60 s) and fall back to one thread. */
  threadStartTimeoutMs?: number;
}

/** Thrown by a candidate whose package is not installed: skipped silently during auto selection. */
class Unavailable extends Error {}

let started: Promise<RuntimeInfo> | null = null;
let current: RuntimeInfo | null = null;
let requestedBackend: BackendName | undefined;

function resolvable(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

function coreCount(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** DDIT_BACKEND, validated. */
export function backendFromEnv(env: NodeJS.ProcessEnv = process.env): BackendName | undefined {
  const raw = env.DDIT_BACKEND?.trim().toLowerCase();
  if (!raw || raw === 'auto') return undefined;
  if ((BACKEND_NAMES as readonly string[]).includes(raw)) return raw as BackendName;
  throw new Error(`DDIT_BACKEND="${env.DDIT_BACKEND}" is not one of ${BACKEND_NAMES.join(', ')} (or auto)`);
}

/** DDIT_THREADS, validated (undefined = every core). */
export function threadsFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env.DDIT_THREADS?.trim();
  if (!raw) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`DDIT_THREADS="${raw}" must be a positive integer`);
  return n;
}

async function startTensorflow(): Promise<Omit<RuntimeInfo, 'fallbacks' | 'tfjsVersion'>> {
  const pkg = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'].find(resolvable);
  if (!pkg) throw new Unavailable('neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node is installed');
  require(pkg);
  if (!tf.findBackendFactory('tensorflow')) {
    throw new Error(
      `${pkg} registered its backend with another copy of @tensorflow/tfjs-core ` +
        `(install the version matching @tensorflow/tfjs ${tf.version.tfjs})`,
    );
  }
  if (!(await tf.setBackend('tensorflow'))) throw new Error(`${pkg} failed to initialise`);
  const gpu = pkg.endsWith('-gpu');
  return {
    backend: 'tensorflow',
    package: pkg,
    threads: coreCount(),
    device: gpu ? 'GPU (CUDA, libtensorflow)' : 'CPU (libtensorflow)',
    nativeKernels: 'libtensorflow',
  };
}

type WasmModule = typeof import('@tensorflow/tfjs-backend-wasm');

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Creates a wasm backend instance with the given thread count and installs it as the 'wasm' backend.
 * The instance is built by calling the registered factory ourselves (tfjs would swallow the error behind a
 * log.warn) and then handed to the engine through a factory that returns it.
 */
async function createWasmBackend(
  wasm: WasmModule,
  factory: () => tf.KernelBackend | Promise<tf.KernelBackend>,
  threads: number,
  timeoutMs: number,
  problems: string[],
): Promise<number> {
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', threads > 1);
  wasm.setThreadsCount(threads);
  const shim = threads > 1 ? installThreadShim(threads) : null;
  let instance: tf.KernelBackend;
  let pending: Promise<tf.KernelBackend> | null = null;
  try {
    instance = await withoutNewProcessListeners(['uncaughtException', 'unhandledRejection'], () => {
      pending = Promise.resolve(factory());
      return threads > 1 ? withTimeout(pending, timeoutMs, 'starting the threaded wasm backend') : pending;
    });
  } catch (e) {
    // A start that timed out may still finish: keep the shim until it settles (its workers load through it),
    // then free whatever it made, so no stray pool threads outlive the fallback.
    const orphan = pending as Promise<tf.KernelBackend> | null;
    if (orphan) {
      void orphan
        .then(
          (late) => late.dispose(),
          () => undefined,
        )
        .finally(() => shim?.restore());
    } else {
      shim?.restore();
    }
    throw e;
  }
  shim?.restore();
  if (shim) problems.push(...shim.problems);
  const pool = (instance as unknown as { wasm: { PThread?: PThreadPool } }).wasm.PThread;
  if (pool) releasePoolWorkers(pool);
  tf.removeBackend('wasm');
  tf.registerBackend('wasm', () => instance, 2);
  if (!(await tf.setBackend('wasm'))) throw new Error('tfjs refused the wasm backend instance');
  return wasm.getThreadsCount();
}

async function startWasm(
  requestedThreads: number,
  timeoutMs: number,
  fallbacks: string[],
): Promise<Omit<RuntimeInfo, 'fallbacks' | 'tfjsVersion'>> {
  const pkg = '@tensorflow/tfjs-backend-wasm';
  if (!resolvable(pkg)) throw new Unavailable(`${pkg} is not installed`);
  const wasm = require(pkg) as WasmModule;
  const factory = tf.findBackendFactory('wasm');
  if (!factory) throw new Error(`${pkg} did not register a 'wasm' backend with this copy of tfjs-core`);

  let threads = 0;
  if (requestedThreads > 1) {
    const blocker =
      typeof SharedArrayBuffer === 'undefined'
        ? 'SharedArrayBuffer is unavailable'
        : typeof Blob === 'undefined'
          ? 'Blob is unavailable'
          : null;
    if (blocker) {
      fallbacks.push(`wasm threads: ${blocker}; using 1 thread`);
    } else {
      try {
        threads = await createWasmBackend(wasm, factory, requestedThreads, timeoutMs, fallbacks);
        if (threads < requestedThreads) {
          fallbacks.push(`wasm threads: asked for ${requestedThreads}, the pool has ${threads}`);
        }
      } catch (e) {
        fallbacks.push(`wasm threads: ${message(e)}; using 1 thread`);
        if (!tf.findBackendFactory('wasm')) tf.registerBackend('wasm', factory, 2);
      }
    }
  }
  if (threads === 0) threads = await createWasmBackend(wasm, factory, 1, timeoutMs, fallbacks);

  registerWasmKernels();
  // BLAS matmuls from the optional N-API addon (native-kernels.ts); without it the wasm kernels stay.
  const native = registerNativeKernels(tf);
  if (!native.loaded && !native.reason?.startsWith('disabled'))
    fallbacks.push(`native kernels: ${native.reason}`);
  onShutdown(() => {
    // Disposing the backend terminates its pool threads and drops the wasm heap; the original factory goes
    // back so a later initRuntime() can start a fresh instance.
    if (tf.findBackendFactory('wasm')) tf.removeBackend('wasm');
    tf.registerBackend('wasm', factory, 2);
  });
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  return {
    backend: 'wasm',
    package: pkg,
    threads,
    device: `CPU (WebAssembly${simd ? ' SIMD' : ''}, ${threads} thread${threads === 1 ? '' : 's'})`,
    nativeKernels: native.loaded ? native.library : null,
  };
}

async function startCpu(): Promise<Omit<RuntimeInfo, 'fallbacks' | 'tfjsVersion'>> {
  if (!(await tf.setBackend('cpu'))) throw new Error('the tfjs cpu backend failed to initialise');
  return {
    backend: 'cpu',
    package: '@tensorflow/tfjs-backend-cpu',
    threads: 1,
    device: 'CPU (JavaScript)',
    nativeKernels: null,
  };
}

async function start(opts: RuntimeOptions): Promise<RuntimeInfo> {
  const forced = opts.backend ?? backendFromEnv();
  if (forced && !BACKEND_NAMES.includes(forced)) {
    throw new Error(`backend "${forced}" is not one of ${BACKEND_NAMES.join(', ')}`);
  }
  const threads = opts.threads ?? threadsFromEnv() ?? coreCount();
  if (!Number.isInteger(threads) || threads < 1)
    throw new Error(`threads must be a positive integer (got ${threads})`);
  const timeoutMs = opts.threadStartTimeoutMs ?? 60_000;
  const fallbacks: string[] = [];
  const candidates = forced ? [forced] : BACKEND_NAMES;
  for (const name of candidates) {
    try {
      const started =
        name === 'tensorflow'
          ? await startTensorflow()
          : name === 'wasm'
            ? await startWasm(threads, timeoutMs, fallbacks)
            : await startCpu();
      registerTensorValueHooks();
      return { ...started, tfjsVersion: tf.version.tfjs, fallbacks };
    } catch (e) {
      if (forced) {
        const why = `cannot start the forced backend "${forced}": ${message(e)}`;
        throw new Error(opts.backend ? why : `DDIT_BACKEND: ${why}`);
      }
      if (!(e instanceof Unavailable)) fallbacks.push(`${name}: ${message(e)}`);
    }
  }
  throw new Error(`no tfjs backend could start: ${fallbacks.join('; ')}`);
}

/**
 * Picks and starts the backend (once; later calls return the same info). A later call that names a different
 * backend than the one running is an error rather than a silent no-op.
 */
export function initRuntime(opts: RuntimeOptions = {}): Promise<RuntimeInfo> {
  if (started) {
    if (opts.backend && requestedBackend !== opts.backend && current && current.backend !== opts.backend) {
      return Promise.reject(
        new Error(`runtime already started on "${current.backend}"; cannot switch to "${opts.backend}"`),
      );
    }
    return started;
  }
  requestedBackend = opts.backend;
  onShutdown(() => {
    started = null;
    current = null;
  });
  started = start(opts).then(
    (info) => {
      current = info;
      return info;
    },
    (e) => {
      started = null;
      throw e;
    },
  );
  return started;
}

/** What initRuntime() chose (for /system_stats and `ddit info`). */
export function runtimeInfo(): RuntimeInfo {
  if (!current) throw new Error('the tensor runtime is not started: await initRuntime() first');
  return { ...current, fallbacks: [...current.fallbacks] };
}

/** Stops the backend (terminating wasm threads and freeing its heap). Tensors on it become unusable. */
export function shutdownRuntime(): Promise<void> {
  return runShutdownHooks();
}

/** Runs `fn` with another registered backend active (e.g. 'cpu' as a reference in tests), then switches back. */
export async function withBackend<T>(name: string, fn: () => T | Promise<T>): Promise<T> {
  const previous = tf.getBackend();
  if (!(await tf.setBackend(name))) throw new Error(`backend "${name}" could not be activated`);
  try {
    return await fn();
  } finally {
    await tf.setBackend(previous);
  }
}
