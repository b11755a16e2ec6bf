/**
 * D-DiT forward and forward+backward times for a small config, on each backend available here.
 *
 *   npx tsx test/bench/model-bench.ts [--batch 16] [--reps 5] [--backends wasm,wasm-plain,cpu] [--layers 6]
 *                                     [--attention auto,per-head,batched]
 *
 * Default model = the notes' benchmark model (notes/cpu-compute.md): width 256, 4 heads, 6 joint blocks,
 * 16×16×16 latent with patch 2 (64 image tokens), 32 text tokens of width 256, vocabulary 64.
 * Backends: `wasm` (as the runtime sets it up, native BLAS matmuls when built), `wasm-plain` (the same
 * without the native kernels), `cpu` (tfjs pure JS; slow, so only with --backends). Prints medians of wall
 * and process CPU seconds. Figures only: nothing is asserted.
 */
import { initRuntime, runtimeInfo, tf } from '../../server/runtime';
import {
  registerNativeKernels,
  unregisterNativeKernels,
  nativeMatMulActive,
} from '../../server/runtime/native-kernels';
import { DDiT } from '../../nodes/ddit/model';
import { attentionPath, setAttentionMode, type AttentionMode } from '../../server/runtime/nn';

const args = process.argv.slice(2);
const opt = (name: string, def: string): string => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const B = Number(opt('--batch', '16'));
const reps = Number(opt('--reps', '5'));
const layers = Number(opt('--layers', '6'));
const backends = opt('--backends', 'wasm,wasm-plain').split(',');
const M = 32;
const attentionModes = opt('--attention', 'auto').split(',') as AttentionMode[];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function time(fn: () => void): { wall: number; cpu: number } {
  fn();
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

async function main(): Promise<void> {
  const info = await initRuntime({ backend: 'wasm' });
  console.log(
    `runtime: ${info.backend} (${info.threads} threads), native kernels: ${info.nativeKernels ?? 'none'}`,
  );
  const model = new DDiT({
    sample_size: 16,
    patch_size: 2,
    in_channels: 16,
    num_layers: layers,
    num_attention_heads: 4,
    attention_head_dim: 64,
    joint_attention_dim: 256,
    pos_embed_max_size: 16,
    vocab_size: 64,
  }).initialize(0);
  // random (not zero) modulation so every path does real work
  for (const p of model.parameters()) {
    const v = p.value;
    tf.tidy(() => v.assign(tf.add(v, tf.randomNormal(v.shape, 0, 0.02, 'float32', 1))));
  }
  console.log(
    `model: ${(model.numParams / 1e6).toFixed(2)} M parameters, batch ${B}, 64 image + ${M} text tokens`,
  );
  const z = tf.randomNormal([B, 16, 16, 16], 0, 1, 'float32', 2) as tf.Tensor4D;
  const enc = tf.randomNormal([B, M, 256], 0, 1, 'float32', 3) as tf.Tensor3D;
  const tau = Array.from({ length: B }, (_, i) => (1000 * (i + 1)) / (B + 1));
  const vars = model.trainableVariables();
  const forward = (): void => {
    const o = model.forward(z, tau, enc);
    o.logits.dataSync();
    tf.dispose([o.velocity, o.logits]);
  };
  const step = (): void => {
    const { value, grads } = tf.variableGrads(
      () =>
        tf.tidy(() => {
          const o = model.forward(z, tau, enc);
          return tf.add(tf.mean(tf.square(o.velocity)), tf.mean(tf.square(o.logits))) as tf.Scalar;
        }),
      vars,
    );
    value.dataSync();
    value.dispose();
    tf.dispose(grads);
  };
  for (const name of backends) {
    if (name === 'cpu') await tf.setBackend('cpu');
    else {
      await tf.setBackend('wasm');
      if (name === 'wasm-plain') unregisterNativeKernels(tf);
      else registerNativeKernels(tf);
    }
    for (const mode of attentionModes) {
      setAttentionMode(mode);
      const n0 = tf.memory().numTensors;
      const f = time(forward);
      const s = time(step);
      const leak = tf.memory().numTensors - n0;
      const native = tf.getBackend() === 'wasm' && nativeMatMulActive(tf) ? 'native' : 'stock';
      console.log(
        `${name.padEnd(10)} matmul ${native.padEnd(6)} attention ${attentionPath().padEnd(8)}` +
          `  forward ${f.wall.toFixed(3)} s (cpu ${f.cpu.toFixed(3)})` +
          `  forward+backward ${s.wall.toFixed(3)} s (cpu ${s.cpu.toFixed(3)})  tensors +${leak}`,
      );
    }
  }
  console.log(JSON.stringify({ runtime: runtimeInfo().backend, batch: B, layers }));
  model.dispose();
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
