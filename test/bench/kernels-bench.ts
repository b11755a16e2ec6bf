/**
 * Matmul kernels and one MM-DiT training step on tfjs-wasm, with and without the native (OpenBLAS) kernels.
 *
 *   npx tsx test/bench/kernels-bench.ts [--gemm] [--train] [--wasm] [--steps N] [--profile]
 *
 * With neither --gemm nor --train both sections run. Prints GFLOP/s per GEMM shape and route, then
 * seconds per training step (forward+backward+Adam) of the notes' model (hidden 256, 4 heads, 6 joint
 * blocks, 64 image + 32 text tokens, batch 16). Figures only: nothing is asserted.
 */
import { initRuntime, shutdownRuntime, tf } from '../../server/runtime';
import { leanVariableGrads } from '../../server/runtime/lean-grads';
import {
  registerNativeKernels,
  setNativeThreads,
  unregisterNativeKernels,
} from '../../server/runtime/native-kernels';
import {
  Linear,
  Module,
  adaLayerNorm,
  concatLinear,
  gatedAdd,
  chunkLast,
  jointAttention,
  geluTanh,
  silu,
  timestepEmbedding,
} from '../../server/runtime/nn';
import { AdamW, ADAMW_DEFAULTS, type Grads } from '../../nodes/training/adamw';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const opt = (name: string, def: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

interface Timing {
  /** Median wall seconds. */
  wall: number;
  /** Median process CPU seconds (all threads): close to the wall time of an idle machine for 1-thread runs. */
  cpu: number;
}

/** Medians of `fn` over `reps` timed runs after `warm` untimed ones. */
function timeIt(fn: () => void, reps: number, warm = 1): Timing {
  for (let i = 0; i < warm; i++) fn();
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    walls.push((performance.now() - t0) / 1000);
    const c = process.cpuUsage(c0);
    cpus.push((c.user + c.system) / 1e6);
  }
  return { wall: median(walls), cpu: median(cpus) };
}

/** "wall (cpu)" GFLOP/s. */
function gflops(f: number, t: Timing): string {
  return `${(f / t.wall / 1e9).toFixed(1)} (${(f / t.cpu / 1e9).toFixed(1)})`;
}

// ---------------------------------------------------------------- GEMMs

interface GemmCase {
  name: string;
  a: number[];
  b: number[];
  ta: boolean;
  tb: boolean;
}

const GEMMS: GemmCase[] = [
  { name: 'x·W   (MLP up)     1536×256·256×1024', a: [1536, 256], b: [256, 1024], ta: false, tb: false },
  { name: 'x·W   (MLP down)   1536×1024·1024×256', a: [1536, 1024], b: [1024, 256], ta: false, tb: false },
  { name: 'dy·Wᵀ (MLP up dx)  1536×1024·(256×1024)ᵀ', a: [1536, 1024], b: [256, 1024], ta: false, tb: true },
  { name: 'xᵀ·dy (MLP up dW)  (1536×256)ᵀ·1536×1024', a: [1536, 256], b: [1536, 1024], ta: true, tb: false },
  { name: 'q·kᵀ  (attention)  64×[96×64·(96×64)ᵀ]', a: [64, 96, 64], b: [64, 96, 64], ta: false, tb: true },
  { name: 'p·v   (attention)  64×[96×96·96×64]', a: [64, 96, 96], b: [64, 96, 64], ta: false, tb: false },
];

function flops(c: GemmCase): number {
  const r = c.a.length;
  const m = c.ta ? c.a[r - 1] : c.a[r - 2];
  const k = c.ta ? c.a[r - 2] : c.a[r - 1];
  const n = c.tb ? c.b[r - 2] : c.b[r - 1];
  const batch = c.a.slice(0, -2).reduce((x, y) => x * y, 1);
  return 2 * batch * m * n * k;
}

function gemmOperands(c: GemmCase): [tf.Tensor, tf.Tensor] {
  return [tf.randomNormal(c.a, 0, 1, 'float32', 1), tf.randomNormal(c.b, 0, 1, 'float32', 2)];
}

/** GFLOP/s of the plain wasm kernels: the kernel as called, and the explicit-transpose route. */
function wasmGemms(): Array<[string, string]> {
  unregisterNativeKernels(tf);
  const out: Array<[string, string]> = [];
  for (const c of GEMMS) {
    const [a, b] = gemmOperands(c);
    const run = () => tf.matMul(a, b, c.ta, c.tb).dispose();
    // The route of the nn fast paths without native kernels: explicit transposes, then flag-free
    // products (2-D: XNNPACK; batched: one 2-D product per matrix).
    const viaTranspose = () =>
      tf
        .tidy(() => {
          const A = c.ta ? tf.transpose(a, c.a.length === 2 ? [1, 0] : [0, 2, 1]) : a;
          const B = c.tb ? tf.transpose(b, c.b.length === 2 ? [1, 0] : [0, 2, 1]) : b;
          if (A.rank === 2) return tf.matMul(A as tf.Tensor2D, B as tf.Tensor2D);
          const [n, ar, ac] = A.shape as number[];
          const [, br, bc] = B.shape as number[];
          const outs: tf.Tensor[] = [];
          for (let i = 0; i < n; i++) {
            const ai = tf.reshape(tf.slice(A, [i, 0, 0], [1, ar, ac]), [ar, ac]) as tf.Tensor2D;
            const bi = tf.reshape(tf.slice(B, [i, 0, 0], [1, br, bc]), [br, bc]) as tf.Tensor2D;
            outs.push(tf.matMul(ai, bi));
          }
          return tf.stack(outs);
        })
        .dispose();
    const fast = !c.ta && !c.tb && c.a.length === 2;
    out.push([gflops(flops(c), timeIt(run, fast ? 5 : 2)), gflops(flops(c), timeIt(viaTranspose, 3))]);
    tf.dispose([a, b]);
  }
  registerNativeKernels(tf);
  return out;
}

/** GFLOP/s of the native kernels through tf.matMul with `threads` addon threads. */
function nativeGemms(threads: number): string[] {
  setNativeThreads(threads);
  return GEMMS.map((c) => {
    const [a, b] = gemmOperands(c);
    const t = timeIt(() => tf.matMul(a, b, c.ta, c.tb).dispose(), 7, 2);
    tf.dispose([a, b]);
    return gflops(flops(c), t);
  });
}

async function gemmSection(): Promise<void> {
  const cols: Record<string, string[]> = {};
  for (const threads of [1, 2]) {
    await shutdownRuntime();
    const info = await initRuntime({ backend: 'wasm', threads });
    const w = wasmGemms();
    cols[`wasm ${info.threads} thr`] = w.map((x) => x[0]);
    cols[`wasm ${info.threads} thr, transposes+2-D`] = w.map((x) => x[1]);
  }
  for (const threads of [1, 2]) cols[`native ${threads} thr`] = nativeGemms(threads);
  const header = ['GEMM (GFLOP/s)', ...Object.keys(cols)];
  const rows = GEMMS.map((c, i) => [c.name, ...Object.values(cols).map((v) => v[i])]);
  printTable('GEMM GFLOP/s by wall time (by process CPU time), medians', header, rows);
}

function printTable(title: string, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ') + ' |';
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(
    '|' + widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|',
  );
  for (const r of rows) console.log(line(r));
}

// ---------------------------------------------------------------- MM-DiT training step

const D = 256;
const HEADS = 4;
const BLOCKS = 6;
const N_IMG = 64;
const N_TXT = 32;
const C_IN = 16;
const BATCH = 16;

class StreamWeights extends Module {
  readonly mod = this.module('mod', new Linear(D, 6 * D));
  readonly q = this.module('q', new Linear(D, D));
  readonly k = this.module('k', new Linear(D, D));
  readonly v = this.module('v', new Linear(D, D));
  readonly o = this.module('o', new Linear(D, D));
  readonly fc1 = this.module('fc1', new Linear(D, 4 * D));
  readonly fc2 = this.module('fc2', new Linear(4 * D, D));
}

class JointBlock extends Module {
  readonly img = this.module('img', new StreamWeights());
  readonly txt = this.module('txt', new StreamWeights());

  forward(x: tf.Tensor3D, c: tf.Tensor3D, ySilu: tf.Tensor2D): [tf.Tensor3D, tf.Tensor3D] {
    const [sx1, cx1, gx1, sx2, cx2, gx2] = chunkLast(this.img.mod.forward(ySilu) as tf.Tensor2D, 6);
    const [sc1, cc1, gc1, sc2, cc2, gc2] = chunkLast(this.txt.mod.forward(ySilu) as tf.Tensor2D, 6);
    const xn = adaLayerNorm(x, sx1, cx1);
    const cn = adaLayerNorm(c, sc1, cc1);
    const qkv = (w: StreamWeights, h: tf.Tensor) => concatLinear(h, [w.q, w.k, w.v]) as tf.Tensor3D;
    const [ox, oc] = jointAttention(qkv(this.img, xn), qkv(this.txt, cn), { heads: HEADS });
    let x2 = gatedAdd(x, gx1, this.img.o.forward(ox));
    let c2 = gatedAdd(c, gc1, this.txt.o.forward(oc));
    const ffx = this.img.fc2.forward(geluTanh(this.img.fc1.forward(adaLayerNorm(x2, sx2, cx2))));
    const ffc = this.txt.fc2.forward(geluTanh(this.txt.fc1.forward(adaLayerNorm(c2, sc2, cc2))));
    x2 = gatedAdd(x2, gx2, ffx);
    c2 = gatedAdd(c2, gc2, ffc);
    return [x2 as tf.Tensor3D, c2 as tf.Tensor3D];
  }
}

class MMDiT extends Module {
  readonly xEmbed = this.module('x_embedder', new Linear(C_IN, D));
  readonly cEmbed = this.module('context_embedder', new Linear(D, D));
  readonly t1 = this.module('t1', new Linear(256, D));
  readonly t2 = this.module('t2', new Linear(D, D));
  readonly blocks: JointBlock[] = [];
  readonly finalMod = this.module('final_mod', new Linear(D, 2 * D));
  readonly out = this.module('out', new Linear(D, C_IN));

  constructor() {
    super();
    for (let i = 0; i < BLOCKS; i++) this.blocks.push(this.module(`blocks.${i}`, new JointBlock()));
  }

  forward(z: tf.Tensor3D, tau: tf.Tensor1D, ctx: tf.Tensor3D): tf.Tensor3D {
    const y = this.t2.forward(silu(this.t1.forward(timestepEmbedding(tau))));
    const ys = silu(y) as tf.Tensor2D;
    let x = this.xEmbed.forward(z) as tf.Tensor3D;
    let c = this.cEmbed.forward(ctx) as tf.Tensor3D;
    for (const b of this.blocks) [x, c] = b.forward(x, c, ys);
    const [scale, shift] = chunkLast(this.finalMod.forward(ys) as tf.Tensor2D, 2);
    return this.out.forward(adaLayerNorm(x, shift, scale)) as tf.Tensor3D;
  }
}

const FWD_GFLOP = 15.65; // matmul FLOPs of one batch-16 forward (notes/cpu-compute.md)

interface StepResult {
  fwd: Timing;
  fwdBwd: Timing;
  step: Timing;
  loss: number;
}

function trainVariant(model: MMDiT, steps: number, profile: boolean): StepResult {
  const z = tf.randomNormal([BATCH, N_IMG, C_IN], 0, 1, 'float32', 1) as tf.Tensor3D;
  const ctx = tf.randomNormal([BATCH, N_TXT, D], 0, 1, 'float32', 2) as tf.Tensor3D;
  const tau = tf.randomUniform([BATCH], 0, 1000, 'float32', 3) as tf.Tensor1D;
  const target = tf.randomNormal([BATCH, N_IMG, C_IN], 0, 1, 'float32', 4);
  const named = model.namedParameters().map(([name, p]) => ({ name, variable: p.value }));
  const vars = named.map((p) => p.variable);
  // The project's optimiser (PyTorch AdamW rule, global-norm clipping); native in-place step when loaded.
  const opt = new AdamW({ ...ADAMW_DEFAULTS, lr: 1e-4, warmupSteps: 0 });
  const trainStep = (): number => {
    const { value, grads } = leanVariableGrads(lossFn, vars);
    const byName: Grads = new Map(named.map(({ name, variable }) => [name, grads[variable.name]]));
    opt.step(named, byName);
    const l = value.dataSync()[0];
    value.dispose();
    return l;
  };
  const lossFn = () => tf.mean(tf.square(tf.sub(model.forward(z, tau, ctx), target))) as tf.Scalar;
  const fwd = timeIt(() => tf.tidy(lossFn).dispose(), Math.max(2, steps), 1);
  const fwdBwd = timeIt(
    () => {
      const { value, grads } = leanVariableGrads(lossFn, vars);
      value.dispose();
      tf.dispose(Object.values(grads));
    },
    Math.max(2, steps),
    1,
  );
  let loss = NaN;
  const step = timeIt(() => (loss = trainStep()), steps, 1);
  if (profile) profileStep(() => trainStep());
  opt.dispose();
  tf.dispose([z, ctx, tau, target]);
  return { fwd, fwdBwd, step, loss };
}

function profileStep(f: () => void): void {
  // tf.profile only runs async; the engine's kernel hook is enough for a synchronous tally.
  const byName = new Map<string, { ms: number; cpu: number; n: number }>();
  const engine = tf.engine() as unknown as {
    runKernel: (name: string, inputs: unknown, attrs: unknown) => unknown;
  };
  const orig = engine.runKernel.bind(engine);
  engine.runKernel = (name, inputs, attrs) => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const r = orig(name, inputs, attrs);
    const c = process.cpuUsage(c0);
    const e = byName.get(name) ?? { ms: 0, cpu: 0, n: 0 };
    e.ms += performance.now() - t0;
    e.cpu += (c.user + c.system) / 1000;
    e.n++;
    byName.set(name, e);
    return r;
  };
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  try {
    f();
  } finally {
    engine.runKernel = orig;
  }
  const total = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const totalCpu = (c.user + c.system) / 1000;
  const rows = [...byName.entries()].sort((a, b) => b[1].cpu - a[1].cpu).slice(0, 18);
  const kernelCpu = [...byName.values()].reduce((s, e) => s + e.cpu, 0);
  printTable(
    `kernels of one step: ${total.toFixed(0)} ms wall, ${totalCpu.toFixed(0)} ms CPU, of which ${kernelCpu.toFixed(0)} ms CPU in tfjs kernels (the rest: the native AdamW, JS)`,
    ['kernel', 'wall ms', 'CPU ms', 'calls', 'CPU share'],
    rows.map(([n, e]) => [
      n,
      e.ms.toFixed(1),
      e.cpu.toFixed(1),
      String(e.n),
      `${((100 * e.cpu) / totalCpu).toFixed(1)}%`,
    ]),
  );
}

/** "wall (cpu)" milliseconds. */
function ms(t: Timing): string {
  return `${(t.wall * 1000).toFixed(0)} (${(t.cpu * 1000).toFixed(0)})`;
}

function trainSection(steps: number, profile: boolean): void {
  const model = new MMDiT().initialize(0);
  console.log(
    `\nMM-DiT: D=${D}, ${HEADS} heads, ${BLOCKS} blocks, ${N_IMG}+${N_TXT} tokens, batch ${BATCH}, ${(model.numParams / 1e6).toFixed(2)} M params`,
  );
  const rows: string[][] = [];
  const add = (name: string, r: StepResult) =>
    rows.push([
      name,
      ms(r.fwd),
      ms(r.fwdBwd),
      ms(r.step),
      ((3 * FWD_GFLOP) / r.step.wall).toFixed(1),
      r.loss.toFixed(4),
    ]);
  // The same nn code either way: with the native kernels it takes transpose-flag matmuls and the fused joint
  // attention kernel, without them explicit transposes and per-head attention (server/runtime/nn).
  if (flag('--wasm')) {
    unregisterNativeKernels(tf);
    add('wasm kernels only', trainVariant(model, 2, profile));
    registerNativeKernels(tf);
  }
  for (const threads of [2, 1]) {
    setNativeThreads(threads);
    add(
      `native kernels, ${threads} thread${threads > 1 ? 's' : ''}`,
      trainVariant(model, steps, profile && threads === 1),
    );
  }
  printTable(
    'training step: wall ms (process CPU ms), medians; step = fwd+bwd+AdamW with clipping; GFLOP/s = 3×15.65 GFLOP / wall',
    ['variant', 'fwd ms', 'fwd+bwd ms', 'step ms', 'GFLOP/s', 'loss'],
    rows,
  );
  model.dispose();
}

async function main(): Promise<void> {
  const info = await initRuntime({ backend: 'wasm' });
  console.log(`runtime: ${info.device}; native kernels: ${info.nativeKernels ?? 'unavailable'}`);
  if (info.fallbacks.length) console.log(`fallbacks: ${info.fallbacks.join('; ')}`);
  if (!info.nativeKernels) {
    process.exitCode = 1;
    return;
  }
  const both = !flag('--gemm') && !flag('--train');
  if (both || flag('--gemm')) await gemmSection();
  if (both || flag('--train')) {
    await shutdownRuntime();
    await initRuntime({ backend: 'wasm' });
    trainSection(opt('--steps', 3), flag('--profile'));
  }
  await shutdownRuntime();
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
