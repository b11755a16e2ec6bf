/**
 * wasm backend throughput with 1 and with 2 (or DDIT_BENCH_THREADS) threads: 2-D matmul GFLOP/s at square and
 * transformer shapes, and the supplied Conv2DBackpropFilter kernel (best of DDIT_BENCH_REPS runs, default 7).
 * Prints a table; asserts nothing.
 *   npx tsx test/bench/wasm-threads.ts        (DDIT_NATIVE=0 to measure XNNPACK even where the BLAS addon is built)
 */
import { initRuntime, runtimeInfo, shutdownRuntime, tf } from '../../server/runtime';

const REPS = Number(process.env.DDIT_BENCH_REPS ?? 7);

/**
 * Best-of-REPS milliseconds of `fn` (which must dispose what it makes), after one warm-up run. The best run is
 * the steadiest estimate on a shared machine, where other processes only ever add time.
 */
function time(fn: () => void): number {
  fn();
  const ms: number[] = [];
  for (let i = 0; i < REPS; i++) {
    const t0 = performance.now();
    fn();
    ms.push(performance.now() - t0);
  }
  return Math.min(...ms);
}

function matmul(m: number, k: number, n: number): { label: string; ms: number; gflops: number } {
  const a = tf.randomNormal([m, k], 0, 1, 'float32', 1);
  const b = tf.randomNormal([k, n], 0, 1, 'float32', 2);
  const ms = time(() => {
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
  });
  tf.dispose([a, b]);
  return { label: `matmul ${m}x${k} · ${k}x${n}`, ms, gflops: (2 * m * k * n) / ms / 1e6 };
}

function convFilterGrad(): { label: string; ms: number; gflops: number } {
  const [B, H, W, Cin, Cout] = [2, 32, 32, 64, 64];
  const x = tf.randomNormal([B, H, W, Cin], 0, 1, 'float32', 3) as tf.Tensor4D;
  const dy = tf.randomNormal([B, H, W, Cout], 0, 1, 'float32', 4) as tf.Tensor4D;
  const ms = time(() => {
    const g = tf.engine().runKernel(
      'Conv2DBackpropFilter',
      { x, dy },
      {
        strides: [1, 1],
        pad: 'same',
        dataFormat: 'NHWC',
        filterShape: [3, 3, Cin, Cout],
      },
    ) as tf.Tensor;
    g.dataSync();
    g.dispose();
  });
  tf.dispose([x, dy]);
  return {
    label: `conv2d filter grad 3x3, [${B},${H},${W},${Cin}]→${Cout}`,
    ms,
    gflops: (2 * B * H * W * 9 * Cin * Cout) / ms / 1e6,
  };
}

async function main(): Promise<void> {
  const many = Number(process.env.DDIT_BENCH_THREADS ?? 2);
  const rows: Record<string, Record<string, string>> = {};
  for (const threads of [1, many]) {
    await shutdownRuntime();
    const info = await initRuntime({ backend: 'wasm', threads });
    const col = `${info.threads} thread${info.threads === 1 ? '' : 's'}${info.nativeKernels ? ' + native' : ''}`;
    for (const r of [
      matmul(512, 512, 512),
      matmul(1024, 1024, 1024),
      matmul(1536, 256, 1024),
      matmul(1536, 1024, 256),
      convFilterGrad(),
    ]) {
      rows[r.label] ??= {};
      rows[r.label][col] = `${r.ms.toFixed(1)} ms  ${r.gflops.toFixed(1)} GFLOP/s`;
    }
    if (runtimeInfo().fallbacks.length)
      console.log(`fallbacks (${col}):`, runtimeInfo().fallbacks.join('; '));
  }
  console.table(rows);
  await shutdownRuntime();
}

void main();
