/**
 * Multi-threaded tfjs-backend-wasm under Node.
 *
 * tfjs 4.22 hard-codes WASM_HAS_MULTITHREAD_SUPPORT=false under Node (tfjs issue #3830), and forcing it on fails
 * because the threaded build starts its pthread workers from `blob:` URLs, which Node's Worker refuses. While the
 * backend initialises, this shim:
 * - records the text of JavaScript Blobs and makes URL.createObjectURL write it to a temp file instead, so the
 *   worker bootstrap and the module script become real files;
 * - prefixes the module script with the `require$$N` / `commonjsGlobal` bindings that the bundler hoisted out of
 *   the factory function (the worker evaluates the factory's source text without its closure);
 * - rewrites the worker bootstrap so it loads that module file instead of creating its own object URL;
 * - makes os.cpus() report at least 2·threads entries, because the C++ side caps the pool at logical cores / 2.
 * Everything is restored once initialisation settles, and the temp files are deleted (the pool is complete by then).
 *
 * Emscripten ref()s a pthread worker when it starts running; a running pool thread would then keep the process
 * alive forever, so CLI commands and jest would never exit. releasePoolWorkers() unrefs them for good and
 * terminates the idle pre-spawned ones (emscripten spawns 8 whatever the thread count).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/**
 * The real os module object: tfjs reads os.cpus() through its own require('os'), and an `import * as` namespace
 * may be a copy under esModuleInterop, so patches must go on the required object itself.
 */
const nodeOs: { cpus: () => os.CpuInfo[] } = require('os');

const MAIN_SCRIPT_PREFIX = 'var WasmBackendModuleThreadedSimd';
const WORKER_OBJECT_URL = 'var objectUrl=URL.createObjectURL(e.data.urlOrBlob);';

/** Bindings the threaded factory's source refers to (see the top of tf-backend-wasm.node.js). */
const HOISTED_BINDINGS =
  "var require$$0=require('fs'),require$$1=require('path'),require$$2=require('crypto')," +
  "require$$3=require('perf_hooks'),require$$4=require('os'),commonjsGlobal=globalThis;\n";

export interface ThreadShim {
  /** Undo every global patch and delete the temp files. Safe to call twice. */
  restore(): void;
  /** Problems noticed while the shim was active (e.g. an unexpected worker bootstrap). */
  problems: string[];
}

/** Installs the shim; call restore() once the wasm backend factory has settled. */
export function installThreadShim(threads: number): ThreadShim {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-wasm-'));
  const problems: string[] = [];
  const OrigBlob = globalThis.Blob;
  const origCreate = URL.createObjectURL;
  const origRevoke = URL.revokeObjectURL;
  const origCpus = nodeOs.cpus;
  const texts = new WeakMap<Blob, string>();
  let mainScriptFile: string | null = null;
  let n = 0;

  class RecordingBlob extends OrigBlob {
    constructor(parts?: BlobPart[], options?: BlobPropertyBag) {
      super(parts, options);
      const type = options?.type ?? '';
      if (/javascript/.test(type) && parts?.every((p) => typeof p === 'string')) {
        const text = (parts as string[]).join('');
        texts.set(this, text);
        if (text.startsWith(MAIN_SCRIPT_PREFIX)) {
          mainScriptFile = path.join(dir, 'wasm-module.js');
          fs.writeFileSync(mainScriptFile, HOISTED_BINDINGS + text);
        }
      }
    }
  }

  const createObjectURL = (obj: Blob): string => {
    const text = texts.get(obj);
    if (text === undefined) return origCreate.call(URL, obj);
    if (text.startsWith(MAIN_SCRIPT_PREFIX) && mainScriptFile) return mainScriptFile;
    let script = text;
    if (mainScriptFile) {
      if (script.includes(WORKER_OBJECT_URL)) {
        script = script.replace(WORKER_OBJECT_URL, `var objectUrl=${JSON.stringify(mainScriptFile)};`);
      } else {
        problems.push('wasm worker bootstrap has an unexpected shape (tfjs-backend-wasm version changed?)');
      }
    }
    const file = path.join(dir, `worker-${n++}.js`);
    fs.writeFileSync(file, script);
    return file;
  };

  globalThis.Blob = RecordingBlob as typeof Blob;
  URL.createObjectURL = createObjectURL;
  URL.revokeObjectURL = (url: string) => {
    if (!url.startsWith(dir)) origRevoke.call(URL, url);
  };
  nodeOs.cpus = () => {
    const real = origCpus.call(nodeOs);
    const out = [...real];
    while (out.length < 2 * threads) out.push(...real);
    return out;
  };

  // A process that exits mid-start (or while a timed-out start is pending) still removes its temp files.
  const removeDir = () => fs.rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeDir);
  let restored = false;
  return {
    problems,
    restore() {
      if (restored) return;
      restored = true;
      process.removeListener('exit', removeDir);
      globalThis.Blob = OrigBlob;
      URL.createObjectURL = origCreate;
      URL.revokeObjectURL = origRevoke;
      nodeOs.cpus = origCpus;
      removeDir();
    },
  };
}

interface PoolWorker {
  ref(): void;
  unref(): void;
  terminate(): unknown;
}

/** The emscripten pthread bookkeeping that the threaded wasm module exposes as `Module.PThread`. */
export interface PThreadPool {
  unusedWorkers: PoolWorker[];
  runningWorkers: PoolWorker[];
}

/**
 * Lets the process exit while pool threads are alive (they only wait on futexes between kernels) and frees the
 * pre-spawned workers that the thread pool did not take. Returns the number of running pool threads.
 */
export function releasePoolWorkers(pool: PThreadPool): number {
  for (const w of pool.runningWorkers) {
    w.unref();
    w.ref = () => undefined; // emscripten re-refs a worker each time it hands it a thread
  }
  for (const w of pool.unusedWorkers) void w.terminate();
  pool.unusedWorkers.length = 0;
  return pool.runningWorkers.length;
}

/**
 * Removes process-wide listeners added during `fn` for the given events. Emscripten's Node glue installs
 * `uncaughtException`/`unhandledRejection` handlers that rethrow, which would change how the server's own
 * handlers behave and pile up with every module instance (one per jest test file).
 */
export async function withoutNewProcessListeners<T>(
  events: ('uncaughtException' | 'unhandledRejection')[],
  fn: () => Promise<T>,
): Promise<T> {
  type Listener = (...args: unknown[]) => void;
  const listeners = (e: string): Listener[] => process.listeners(e as 'uncaughtException') as Listener[];
  const before = new Map(events.map((e) => [e, new Set(listeners(e))]));
  try {
    return await fn();
  } finally {
    for (const e of events) {
      for (const l of listeners(e)) if (!before.get(e)!.has(l)) process.removeListener(e, l);
    }
  }
}
