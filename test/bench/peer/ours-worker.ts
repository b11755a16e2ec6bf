/**
 * ddit-studio's side of the peer benchmark (test/bench/peer-bench.ts), one task per process so that its peak
 * memory is that task's. Inference runs the ONNX-served models opened from the exported files (no tfjs
 * weights are loaded), through the product's sampling code (CfgGuider + sampleEuler, sampleMasked +
 * textProbabilities); training runs the tfjs D-DiT (native kernels when built) with the product's losses and
 * AdamW.
 *
 *   node --require tsx/cjs test/bench/peer/ours-worker.ts --setup DIR --task NAME
 * stdin: run | check FILE | mem | quit (one per line); stdout: JSON lines.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as readline from 'readline';
import { initRuntime, loadSafetensors, runtimeInfo, saveSafetensors, tf } from '../../../server/runtime';
import { leanVariableGrads } from '../../../server/runtime/lean-grads';
import { loadCheckpoint } from '../../../nodes/ddit/checkpoint';
import { OnnxDDiT } from '../../../nodes/ddit/onnx';
import type { DDiTConfig } from '../../../nodes/ddit/config';
import { OnnxTextEncoder } from '../../../nodes/text/onnx';
import type { T5Config } from '../../../nodes/text/t5';
import { OnnxAutoencoderKL } from '../../../nodes/vae/onnx';
import { resolveVaeConfig, type VaeConfig } from '../../../nodes/vae/config';
import { CfgGuider } from '../../../nodes/sampling/cfg';
import { sampleEuler } from '../../../nodes/sampling/euler';
import { flowMatchSigmas } from '../../../nodes/sampling/flow-schedule';
import { sampleMasked } from '../../../nodes/sampling/masked-sampler';
import { Rng } from '../../../nodes/sampling/random';
import { textProbabilities } from '../../../nodes/sampling/text-model';
import { AdamW, ADAMW_DEFAULTS, type TrainParam } from '../../../nodes/training/adamw';
import { flowMatchingLoss, maskedDiffusionLoss } from '../../../nodes/training/losses';

export interface BenchSetup {
  mask_id: number;
  cfg: number;
  t2i_steps: number;
  caption_steps: number;
  vqa_steps: number;
  text_weight: number;
  adamw: { lr: number; beta1: number; beta2: number; eps: number; weight_decay: number; clip: number };
  configs: { transformer: DDiTConfig; text_encoder: T5Config; vae: VaeConfig };
  onnx: {
    ddit: string;
    ddit_image: string;
    ddit_text: string;
    text_encoder: string;
    vae_decoder: string;
    vae_encoder: string;
  };
}

/** The shared stream of uniforms (the peer draws the same numbers in the same order). */
class ReplayRng extends Rng {
  private i = 0;
  constructor(private readonly values: Float32Array) {
    super(0);
  }
  override uniform(): number {
    const v = this.values[this.i % this.values.length];
    this.i++;
    return v;
  }
}

type Outputs = Record<string, tf.Tensor>;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const arg = (name: string): string => {
    const i = args.indexOf(name);
    if (i < 0 || !args[i + 1]) throw new Error(`ours-worker: missing ${name}`);
    return args[i + 1];
  };
  const dir = arg('--setup');
  const task = arg('--task');
  await initRuntime();
  const bench = JSON.parse(fs.readFileSync(path.join(dir, 'bench.json'), 'utf8')) as BenchSetup;
  const inputs = loadSafetensors(path.join(dir, 'inputs.safetensors')).tensors;
  const I = (k: string): tf.Tensor => {
    const t = inputs[k];
    if (!t) throw new Error(`inputs.safetensors has no '${k}'`);
    return t;
  };
  const maskId = bench.mask_id;
  let passes = 0;
  let run: () => Promise<Outputs>;

  if (task === 'train') {
    const ck = loadCheckpoint(path.join(dir, 'checkpoint.safetensors'));
    ck.vae.dispose();
    const model = ck.transformer;
    const encoder = ck.textEncoder;
    const params: TrainParam[] = model.namedParameters().map(([name, p]) => ({ name, variable: p.value }));
    const vars = params.map((p) => p.variable);
    const byVar = new Map(params.map((p) => [p.variable.name, p.name]));
    const a = bench.adamw;
    const opt = new AdamW({
      ...ADAMW_DEFAULTS,
      lr: a.lr,
      beta1: a.beta1,
      beta2: a.beta2,
      eps: a.eps,
      weightDecay: a.weight_decay,
      clipNorm: a.clip,
      warmupSteps: 0,
    });
    const sigmas = Array.from(I('train_sigmas').dataSync());
    const times = Array.from(I('train_times').dataSync());
    run = async () => {
      const encT = encoder.encode(I('train_xt') as tf.Tensor2D);
      const { value, grads } = leanVariableGrads(() => {
        const img = flowMatchingLoss(
          (z, tau, e) => model.forward(z, tau, e, { text: false }).velocity!,
          I('train_z0') as tf.Tensor4D,
          I('train_noise') as tf.Tensor4D,
          I('train_enc') as tf.Tensor3D,
          sigmas,
        );
        const logits = model.forward(I('train_z0t') as tf.Tensor4D, 0, encT, { image: false }).logits!;
        const txt = maskedDiffusionLoss(
          logits,
          I('train_x0') as tf.Tensor2D,
          I('train_xt') as tf.Tensor2D,
          times,
          maskId,
        );
        return tf.add(img, tf.mul(txt, bench.text_weight)) as tf.Scalar;
      }, vars);
      encT.dispose();
      const named = new Map<string, tf.Tensor>();
      for (const [v, g] of Object.entries(grads)) named.set(byVar.get(v) ?? v, g);
      opt.step(params, named);
      const loss = tf.reshape(value, [1]);
      value.dispose();
      return { loss };
    };
  } else {
    const o = bench.onnx;
    const ddit = await OnnxDDiT.load(
      { both: o.ddit, image: o.ddit_image, text: o.ddit_text },
      bench.configs.transformer,
    );
    const t5 = await OnnxTextEncoder.load(o.text_encoder, bench.configs.text_encoder);
    const vae = await OnnxAutoencoderKL.load(resolveVaeConfig(bench.configs.vae), {
      decoder: o.vae_decoder,
      encoder: o.vae_encoder,
    });
    if (task === 'fwd_b1' || task === 'fwd_b16') {
      const b = task === 'fwd_b1' ? 1 : 16;
      const z = tf.slice(I('z16'), 0, b) as tf.Tensor4D;
      const tau = tf.slice(I('tau16'), 0, b) as tf.Tensor1D;
      const enc = tf.slice(I('enc16'), 0, b) as tf.Tensor3D;
      run = async () => {
        const out = await ddit.forward(z, tau, enc);
        return { velocity: out.velocity, logits: out.logits };
      };
    } else if (task === 't2i') {
      run = async () => {
        const pos = await t5.encode(I('prompt_ids') as tf.Tensor2D);
        const neg = await t5.encode(I('negative_ids') as tf.Tensor2D);
        const guider = new CfgGuider(ddit, { embeds: pos }, { embeds: neg }, bench.cfg);
        const z = await sampleEuler(guider, flowMatchSigmas(bench.t2i_steps, 3), I('noise') as tf.Tensor4D);
        const image = await vae.decode(z);
        tf.dispose([pos, neg, z]);
        return { image };
      };
    } else if (task === 'caption' || task === 'vqa') {
      const template = I(`${task}_template`).dataSync() as Int32Array;
      const fixed = Array.from(I(`${task}_fixed`).dataSync(), (v) => v !== 0);
      const steps = task === 'caption' ? bench.caption_steps : bench.vqa_steps;
      const uniforms = I('uniforms').dataSync() as Float32Array;
      const m = template.length;
      run = async () => {
        const z0 = await vae.encode(I('image') as tf.Tensor4D, { mode: 'mean' });
        try {
          const res = await sampleMasked({
            template,
            fixed,
            maskId,
            steps,
            rng: new ReplayRng(uniforms),
            probabilities: (x) => textProbabilities(ddit, t5, z0, x, 1, m, maskId),
          });
          passes = res.forwardPasses;
          return { tokens: tf.tensor1d(res.tokens, 'int32') };
        } finally {
          z0.dispose();
        }
      };
    } else {
      throw new Error(`ours-worker: unknown task '${task}'`);
    }
  }

  let last: Outputs = {};
  const say = (o: unknown): void => {
    process.stdout.write(`${JSON.stringify(o)}\n`);
  };
  say({ ready: true, backend: runtimeInfo().backend, native: runtimeInfo().nativeKernels });
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const [cmd, rest] = [line.split(' ')[0], line.split(' ').slice(1).join(' ')];
    if (cmd === 'run') {
      // "run N": N runs back to back, timed together (figures per run)
      const n = Math.max(1, Number(rest) || 1);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        tf.dispose(Object.values(last));
        last = await run();
        // results must exist on the host before the clock stops (ORT outputs already do; tfjs may be lazy)
        for (const t of Object.values(last)) t.dataSync();
      }
      const ms = (performance.now() - t0) / n;
      const c = process.cpuUsage(c0);
      const cpu_ms = (c.user + c.system) / 1000 / n;
      say(task === 'caption' || task === 'vqa' ? { ms, cpu_ms, passes } : { ms, cpu_ms });
    } else if (cmd === 'check') {
      await saveSafetensors(rest, last);
      say({ saved: rest });
    } else if (cmd === 'mem') {
      say({ peak_mb: process.resourceUsage().maxRSS / 1024 });
    } else if (cmd === 'quit') {
      break;
    }
  }
  rl.close();
  process.exit(0);
}

main().catch((e: unknown) => {
  process.stdout.write(`${JSON.stringify({ error: e instanceof Error ? e.stack : String(e) })}\n`);
  process.exit(1);
});
