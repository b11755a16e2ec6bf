import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  backendFromEnv,
  initRuntime,
  runtimeInfo,
  shutdownRuntime,
  threadsFromEnv,
  withBackend,
} from '../../../server/runtime/backend';
import { tf } from '../../../server/runtime/tf';
import { nativeKernelsStatus } from '../../../server/runtime/native-kernels';
import { disposeValue, sizeOfValue } from '../../../server/engine/value-hooks';

const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;

afterEach(async () => {
  await shutdownRuntime();
});

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('environment settings', () => {
  it('parses DDIT_BACKEND and DDIT_THREADS, rejecting bad values clearly', () => {
    expect(backendFromEnv({})).toBeUndefined();
    expect(backendFromEnv({ DDIT_BACKEND: 'auto' })).toBeUndefined();
    expect(backendFromEnv({ DDIT_BACKEND: ' WASM ' })).toBe('wasm');
    expect(() => backendFromEnv({ DDIT_BACKEND: 'webgpu' })).toThrow(
      'DDIT_BACKEND="webgpu" is not one of tensorflow, wasm, cpu (or auto)',
    );
    expect(threadsFromEnv({ DDIT_THREADS: '3' })).toBe(3);
    expect(threadsFromEnv({})).toBeUndefined();
    expect(() => threadsFromEnv({ DDIT_THREADS: '0' })).toThrow(
      'DDIT_THREADS="0" must be a positive integer',
    );
    expect(() => threadsFromEnv({ DDIT_THREADS: 'two' })).toThrow(/positive integer/);
  });
});

describe('initRuntime', () => {
  it('picks wasm here (no tfjs-node installed) using every core, and is idempotent', async () => {
    expect(() => runtimeInfo()).toThrow(/await initRuntime\(\) first/);
    const p1 = initRuntime();
    const p2 = initRuntime();
    const info = await p1;
    expect(await p2).toBe(info);
    expect(info).toMatchObject({ backend: 'wasm', package: '@tensorflow/tfjs-backend-wasm' });
    expect(info.tfjsVersion).toBe(tf.version.tfjs);
    // the native BLAS addon is optional (built at install where g++ and OpenBLAS exist): reported either way
    const native = nativeKernelsStatus();
    expect(info.nativeKernels).toBe(native.loaded ? native.library : null);
    expect(info.fallbacks.filter((f) => !f.startsWith('native kernels:'))).toEqual([]);
    if (!native.loaded) expect(info.fallbacks).toContain(`native kernels: ${native.reason}`);
    expect(info.threads).toBe(cores);
    expect(tf.getBackend()).toBe('wasm');
    expect(runtimeInfo()).toEqual(info);
    await expect(initRuntime({ backend: 'cpu' })).rejects.toThrow(/already started on "wasm"/);
  });

  it('runs 2 wasm threads whose results match the cpu backend', async () => {
    const info = await initRuntime({ backend: 'wasm', threads: 2 });
    const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
    expect(wasm.getThreadsCount()).toBe(2);
    expect(info.threads).toBe(2);
    expect(info.device).toMatch(/2 threads/);
    const a = tf.randomNormal([200, 300], 0, 1, 'float32', 1);
    const b = tf.randomNormal([300, 150], 0, 1, 'float32', 2);
    const onWasm = tf.matMul(a, b);
    const onCpu = await withBackend('cpu', () => tf.matMul(a, b));
    expect(maxAbsDiff(onWasm.dataSync(), onCpu.dataSync())).toBeLessThan(1e-4);
    tf.dispose([a, b, onWasm, onCpu]);
  });

  it('falls back to one thread, and says so, when threads cannot start in time', async () => {
    const info = await initRuntime({ backend: 'wasm', threads: 2, threadStartTimeoutMs: 1 });
    expect(info.threads).toBe(1);
    expect(info.fallbacks[0]).toBe(
      'wasm threads: starting the threaded wasm backend did not finish within 1 ms; using 1 thread',
    );
    expect(Array.from(tf.tidy(() => tf.matMul(tf.ones([2, 3]), tf.ones([3, 2]))).dataSync())).toEqual([
      3, 3, 3, 3,
    ]);
  });

  it('leaves no process-wide exception handlers behind (emscripten installs rethrowing ones)', async () => {
    const before = process.listeners('uncaughtException').length;
    await initRuntime({ backend: 'wasm', threads: 2 });
    expect(process.listeners('uncaughtException').length).toBe(before);
  });

  it('honours a forced backend, and fails clearly when it is not installed', async () => {
    await expect(initRuntime({ backend: 'tensorflow' })).rejects.toThrow(
      'cannot start the forced backend "tensorflow": neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node is installed',
    );
    const saved = process.env.DDIT_BACKEND;
    process.env.DDIT_BACKEND = 'cpu';
    try {
      const info = await initRuntime();
      expect(info).toMatchObject({ backend: 'cpu', threads: 1, device: 'CPU (JavaScript)' });
    } finally {
      if (saved === undefined) delete process.env.DDIT_BACKEND;
      else process.env.DDIT_BACKEND = saved;
    }
  });

  it('restarts after shutdown, with one thread when DDIT_THREADS=1', async () => {
    await initRuntime({ backend: 'wasm', threads: 2 });
    await shutdownRuntime();
    expect(() => runtimeInfo()).toThrow();
    const info = await initRuntime({ backend: 'wasm', threads: 1 });
    expect(info.threads).toBe(1);
    expect(Array.from(tf.tidy(() => tf.add(tf.ones([2]), 1)).dataSync())).toEqual([2, 2]);
  });

  it('registers engine value hooks: tensors are sized in bytes and disposed by the cache', async () => {
    await initRuntime();
    const t = tf.zeros([2, 5]);
    const b = tf.zeros([3], 'bool');
    expect(sizeOfValue(t)).toBe(40);
    expect(sizeOfValue({ image: t, mask: b })).toBe(43);
    disposeValue(t);
    expect(t.isDisposed).toBe(true);
    b.dispose();
  });
});

describe('process lifetime', () => {
  it('a script that starts 2 wasm threads exits by itself', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rt-exit-'));
    const script = path.join(dir, 'script.ts');
    const runtime = path.resolve(__dirname, '../../../server/runtime/index.ts');
    fs.writeFileSync(
      script,
      `import { initRuntime, tf } from ${JSON.stringify(runtime)};
       initRuntime({ threads: 2 }).then((info) => {
         const y = tf.matMul(tf.ones([64, 64]), tf.ones([64, 64]));
         console.log(JSON.stringify({ threads: info.threads, v: y.dataSync()[0] }));
       });`,
    );
    try {
      const r = spawnSync(process.execPath, [require.resolve('tsx/cli'), script], {
        encoding: 'utf8',
        timeout: 45_000,
        env: { ...process.env, DDIT_BACKEND: 'wasm' },
      });
      expect(r.error).toBeUndefined(); // a timeout (threads holding the event loop) shows up here
      expect(r.status).toBe(0);
      expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({ threads: 2, v: 64 });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
