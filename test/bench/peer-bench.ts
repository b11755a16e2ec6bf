/**
 * Side-by-side benchmark against a PyTorch implementation of the same models (test/bench/peer/ddit_peer.py,
 * Debian's python3-torch on OpenBLAS), on the same weights and inputs:
 *
 *   D-DiT forward at batch 1 and 16; a 28-step CFG text-to-image (T5 prompt + negative, Euler, VAE decode);
 *   a 64-step caption and a 16-step VQA answer (VAE encode + cached masked sampler, both sides drawing the
 *   same uniforms so they take the same path); one training step at batch 16 (image and text terms,
 *   backward, clipping, AdamW). Peak memory (max RSS) of each side, one process per task and side.
 *
 *   npm run bench -- peer            or   node bin/ddit.js bench peer
 *   npx tsx test/bench/peer-bench.ts [--configs small,large] [--tasks fwd_b1,...] [--repeats 9]
 *                                    [--train-repeats 3] [--train-burst 3] [--warmup 3] [--threads N]
 *                                    [--out bench-results.json]
 *
 * Both sides run one task at a time, alternating run by run (ours, peer, peer, ours, …); figures are medians.
 * Before timing, each side's first result is saved and compared (outputs must agree), and each side makes
 * --warmup untimed runs: the figures are steady-state ones, as in a sampling service or a training run of
 * thousands of steps (tfjs grows its wasm heap and compiles over its first two or three training steps).
 * A timed training sample is --train-burst steps back to back (the figure is per step), as steps follow one
 * another in a training run; --train-burst 1 times each step alone after the pause. Prints a table and
 * writes bench-results.json: a list of {name, ours_ms, peer_ms, ratio = ours/peer, ours_peak_mb,
 * peer_peak_mb} (plus config, GFLOP/s, load average and the agreement check). Nothing is asserted.
 *
 * Configurations: 'small' = the bundled model's configuration (models/ddit-shapes.safetensors: hidden 128,
 * 4 blocks, 2 heads, 8×8×4 latent, patch 1, the shapes vocabulary; T5 128 wide, 2 layers), with random weights
 * (the shipped D-DiT is untrained, its zero-initialised modulation would make outputs trivial); 'large' = hidden
 * 256, 6 blocks, 4 heads (T5 256 wide). Both use the bundled VAE (models/vae-shapes.safetensors) with its
 * weights, and 32 text positions as the bundled model trains with. The peer runs with OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=2
 * (notes/cpu-compute.md §3/4); ours with onnxruntime on every core and tfjs-wasm with the native kernels.
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as readline from 'readline';
import { initRuntime, loadSafetensors, saveSafetensors, tf } from '../../server/runtime';
import { inspectCheckpoint, loadVae, saveCheckpoint, vaeConfigOf } from '../../nodes/ddit/checkpoint';
import { DDiT, type DDiTConfig } from '../../nodes/ddit/model';
import { exportDDiT } from '../../nodes/ddit/onnx';
import { exportT5 } from '../../nodes/text/onnx';
import { T5Encoder, type T5Config } from '../../nodes/text/t5';
import { TextTokenizer } from '../../nodes/text/tokenizer';
import { AutoencoderKL, type VaeConfig } from '../../nodes/vae/model';
import { exportVae } from '../../nodes/vae/onnx';
import { Rng } from '../../nodes/sampling/random';
import type { BenchSetup } from './peer/ours-worker';

const args = process.argv.slice(2);
const opt = (name: string, def: string): string => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1] : def;
};

const ROOT = path.resolve(__dirname, '..', '..');
const PEER_PY = path.join(__dirname, 'peer', 'ddit_peer.py');
const OURS_TS = path.join(__dirname, 'peer', 'ours-worker.ts');
const PYTHON = process.env.DDIT_PEER_PYTHON ?? '/usr/bin/python3';
/** --threads N: every thread pool of both sides at N (default: ours on every core, the peer as the notes advise). */
const THREADS = opt('--threads', '');
const PEER_ENV = { OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: THREADS || '2' };
const OURS_ENV: Record<string, string> = THREADS
  ? { DDIT_ONNX_THREADS: THREADS, DDIT_THREADS: THREADS, DDIT_NATIVE_THREADS: THREADS }
  : {};
/** Pause before each timed run. */
const GAP_MS = 300;
const WARMUP = Number(opt('--warmup', '3'));
const TRAIN_BURST = Number(opt('--train-burst', '3'));

const ALL_TASKS = ['fwd_b1', 'fwd_b16', 't2i', 'caption', 'vqa', 'train'] as const;
type Task = (typeof ALL_TASKS)[number];
const TASK_LABEL: Record<Task, string> = {
  fwd_b1: 'D-DiT forward, batch 1',
  fwd_b16: 'D-DiT forward, batch 16',
  t2i: 'text-to-image, 28 steps, CFG',
  caption: 'caption, 64 steps',
  vqa: 'VQA answer, 16 steps',
  train: 'training step, batch 16',
};

/** The bundled VAE (models/), used with its weights when present; else a VAE of the same latent geometry. */
const BUNDLED_VAE = path.join(ROOT, 'models', 'vae-shapes.safetensors');
/** The bundled checkpoint: its D-DiT and text-encoder configurations define 'small' when present. */
const BUNDLED_CKPT = path.join(ROOT, 'models', 'ddit-shapes.safetensors');

/** Text positions: the bundled model captions and answers with M = 32 (workflows/caption.json, vqa.json). */
const M = 32;
const LATENT = 8;
const C = 4;
const IMAGE = 32;

interface BenchConfig {
  name: string;
  width: number;
  layers: number;
  heads: number;
  textWidth: number;
  textHeads: number;
}

const CONFIGS: Record<string, BenchConfig> = {
  small: { name: 'small', width: 128, layers: 4, heads: 2, textWidth: 128, textHeads: 2 },
  large: { name: 'large', width: 256, layers: 6, heads: 4, textWidth: 256, textHeads: 4 },
};

/** The bundled checkpoint's configurations, if it is there. */
function bundledConfigs(): { transformer: DDiTConfig; text_encoder: T5Config } | null {
  if (!fs.existsSync(BUNDLED_CKPT)) return null;
  const meta = inspectCheckpoint(BUNDLED_CKPT).metadata;
  if (!meta.transformer_config || !meta.text_encoder_config) return null;
  return {
    transformer: JSON.parse(meta.transformer_config) as DDiTConfig,
    text_encoder: JSON.parse(meta.text_encoder_config) as T5Config,
  };
}

function modelConfigs(b: BenchConfig, tok: TextTokenizer): BenchSetup['configs'] {
  const bundled = bundledConfigs();
  if (bundled && b.name === 'small') return { ...bundled, vae: fallbackVae() };
  const transformer: DDiTConfig = {
    sample_size: LATENT,
    patch_size: 1,
    in_channels: C,
    num_layers: b.layers,
    num_attention_heads: b.heads,
    attention_head_dim: b.width / b.heads,
    joint_attention_dim: b.textWidth,
    pos_embed_max_size: LATENT,
    vocab_size: tok.vocabSize,
    mask_token_id: tok.maskId,
  };
  const text_encoder: T5Config = {
    vocab_size: tok.vocabSize,
    d_model: b.textWidth,
    d_kv: b.textWidth / b.textHeads,
    d_ff: 2 * b.textWidth,
    num_layers: 2,
    num_heads: b.textHeads,
    relative_attention_num_buckets: bundled?.text_encoder.relative_attention_num_buckets ?? 32,
    relative_attention_max_distance: bundled?.text_encoder.relative_attention_max_distance ?? 128,
    feed_forward_proj: 'gated-gelu',
    absolute_position_embeddings: bundled?.text_encoder.absolute_position_embeddings,
  };
  return { transformer, text_encoder, vae: fallbackVae() };
}

/** A VAE of the bundled one's geometry (32×32 ↔ 8×8×4), for when models/ has none. */
function fallbackVae(): VaeConfig {
  return {
    block_out_channels: [8, 16, 16],
    layers_per_block: 1,
    latent_channels: C,
    norm_num_groups: 4,
    mid_block_add_attention: false,
  };
}

/** Matmul FLOPs of one D-DiT forward per sample (both heads), and of one T5 encode per sequence. */
function flops(cfg: BenchSetup['configs']): { ddit: number; t5: number } {
  const t = cfg.transformer;
  const D = t.num_attention_heads * t.attention_head_dim;
  const N = LATENT * LATENT;
  const L = N + M;
  const block = 2 * L * D * D * 12 + 4 * L * L * D + 2 * D * 6 * D * 2;
  const ddit =
    t.num_layers * block +
    2 * N * C * D +
    2 * M * t.joint_attention_dim * D +
    2 * (256 * D + D * D) +
    2 * D * 2 * D +
    2 * N * D * C +
    2 * M * D * t.vocab_size;
  const e = cfg.text_encoder;
  const inner = e.num_heads * e.d_kv;
  const t5 =
    e.num_layers * (2 * M * e.d_model * inner * 4 + 4 * M * M * inner + 2 * M * e.d_model * e.d_ff * 3);
  return { ddit, t5 };
}

/** A model with every parameter random (zero-initialised ones get small values too), so outputs are not trivial. */
function randomized<Mdl extends DDiT | AutoencoderKL | T5Encoder>(m: Mdl, seed: number): Mdl {
  m.initialize(seed);
  const rng = new Rng(seed, 7);
  for (const [, p] of m.namedParameters()) {
    const v = p.value.dataSync();
    if (v.some((x) => x !== 0)) continue;
    const t = tf.tensor(
      Float32Array.from(rng.normals(p.size), (x) => 0.02 * x),
      p.shape,
    );
    p.set(t);
    t.dispose();
  }
  return m;
}

async function setup(
  b: BenchConfig,
): Promise<{ dir: string; setup: BenchSetup; flops: { ddit: number; t5: number } }> {
  const dir = path.join(os.tmpdir(), `ddit-peer-bench-${b.name}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const tok = TextTokenizer.fromFile(path.join(ROOT, 'models', 'tokenizer.json'));
  const configs = modelConfigs(b, tok);
  const ddit = randomized(new DDiT(configs.transformer), 1);
  const t5 = randomized(new T5Encoder(configs.text_encoder), 2);
  let vae: AutoencoderKL;
  if (fs.existsSync(BUNDLED_VAE)) {
    vae = loadVae(BUNDLED_VAE);
    configs.vae = vaeConfigOf(vae.config);
  } else {
    vae = randomized(new AutoencoderKL(configs.vae), 3);
  }
  await saveCheckpoint(path.join(dir, 'checkpoint.safetensors'), {
    transformer: ddit,
    vae,
    textEncoder: t5,
    tokenizer: tok,
  });
  const cacheDir = path.join(dir, 'onnx');
  const onnx = {
    ddit: exportDDiT(ddit, 'both', { cacheDir }),
    ddit_image: exportDDiT(ddit, 'image', { cacheDir }),
    ddit_text: exportDDiT(ddit, 'text', { cacheDir }),
    text_encoder: exportT5(t5, { cacheDir }),
    vae_decoder: exportVae(vae, 'decoder', { cacheDir }),
    vae_encoder: exportVae(vae, 'encoder', { cacheDir }),
  };
  [ddit, t5, vae].forEach((m) => m.dispose());

  const rng = new Rng(42);
  const D = configs.transformer.joint_attention_dim;
  const V = tok.vocabSize;
  const normal = (shape: number[], std = 1): tf.Tensor =>
    tf.tensor(
      Float32Array.from(rng.normals(shape.reduce((x, y) => x * y, 1)), (x) => std * x),
      shape,
    );
  const uniform = (n: number, lo: number, hi: number): Float32Array =>
    Float32Array.from({ length: n }, () => lo + (hi - lo) * rng.uniform());
  const ids = (text: string, eos = true): number[] => tok.encodePadded(text, M, { eos });
  // an image with a red square on a blue ground
  const img = new Float32Array(IMAGE * IMAGE * 3);
  for (let y = 0; y < IMAGE; y++)
    for (let x = 0; x < IMAGE; x++) {
      const inSquare = x > 8 && x < 20 && y > 10 && y < 22;
      img.set(inSquare ? [0.9, 0.1, 0.1] : [0.1, 0.2, 0.7], (y * IMAGE + x) * 3);
    }
  const vqaPrompt = tok.encode('q: what color is the square? a:', { eos: false });
  const vqaTemplate = new Int32Array(M).fill(tok.maskId);
  vqaTemplate.set(vqaPrompt.slice(0, M));
  const vqaFixed = new Int32Array(M).map((_, i) => (i < vqaPrompt.length ? 1 : 0));
  const x0 = Int32Array.from({ length: 16 * M }, () => {
    let v = Math.floor(rng.uniform() * V);
    if (v === tok.maskId) v = 1;
    return v;
  });
  const times = uniform(16, 0.001, 1);
  const xt = Int32Array.from(x0, (v, i) => (rng.uniform() < times[Math.floor(i / M)] ? tok.maskId : v));
  const inputs: Record<string, tf.Tensor> = {
    z16: normal([16, LATENT, LATENT, C]),
    tau16: tf.tensor1d(uniform(16, 0, 1000)),
    enc16: normal([16, M, D]),
    prompt_ids: tf.tensor2d([ids('a red square left of a blue circle')], [1, M], 'int32'),
    negative_ids: tf.tensor2d([ids('')], [1, M], 'int32'),
    noise: normal([1, LATENT, LATENT, C]),
    image: tf.tensor4d(img, [1, IMAGE, IMAGE, 3]),
    caption_template: tf.tensor1d(new Int32Array(M).fill(tok.maskId), 'int32'),
    caption_fixed: tf.tensor1d(new Int32Array(M), 'int32'),
    vqa_template: tf.tensor1d(vqaTemplate, 'int32'),
    vqa_fixed: tf.tensor1d(vqaFixed, 'int32'),
    uniforms: tf.tensor1d(uniform(1 << 18, 0, 1)),
    train_z0: normal([16, LATENT, LATENT, C]),
    train_noise: normal([16, LATENT, LATENT, C]),
    train_sigmas: tf.tensor1d(uniform(16, 0.001, 1)),
    train_enc: normal([16, M, D]),
    train_z0t: normal([16, LATENT, LATENT, C]),
    train_x0: tf.tensor2d(x0, [16, M], 'int32'),
    train_xt: tf.tensor2d(xt, [16, M], 'int32'),
    train_times: tf.tensor1d(times),
  };
  await saveSafetensors(path.join(dir, 'inputs.safetensors'), inputs);
  tf.dispose(Object.values(inputs));
  const s: BenchSetup = {
    mask_id: tok.maskId,
    cfg: 7,
    t2i_steps: 28,
    caption_steps: 64,
    vqa_steps: 16,
    text_weight: 0.2,
    adamw: { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01, clip: 2.0 },
    configs,
    onnx,
  };
  fs.writeFileSync(path.join(dir, 'bench.json'), JSON.stringify(s, null, 1));
  return { dir, setup: s, flops: flops(configs) };
}

/** A worker process answering one JSON line per command. */
class Worker {
  private readonly lines: string[] = [];
  private waiting: ((l: string) => void) | null = null;
  private stderr = '';
  private exited: string | null = null;

  constructor(
    readonly label: string,
    private readonly proc: ChildProcessWithoutNullStreams,
  ) {
    readline.createInterface({ input: proc.stdout }).on('line', (l) => {
      if (!l.startsWith('{')) return;
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = null;
        w(l);
      } else this.lines.push(l);
    });
    proc.stderr.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    proc.on('exit', (code) => {
      this.exited = `${label} exited (${code}): ${this.stderr}`;
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = null;
        w(JSON.stringify({ error: this.exited }));
      }
    });
  }

  private next(): Promise<Record<string, unknown>> {
    const parse = (l: string): Record<string, unknown> => {
      const o = JSON.parse(l) as Record<string, unknown>;
      if (o.error) throw new Error(`${this.label}: ${String(o.error)}`);
      return o;
    };
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(parse(l));
    if (this.exited) return Promise.reject(new Error(this.exited));
    return new Promise((resolve, reject) => {
      this.waiting = (x) => {
        try {
          resolve(parse(x));
        } catch (e) {
          reject(e as Error);
        }
      };
    });
  }

  ready(): Promise<Record<string, unknown>> {
    return this.next();
  }

  ask(cmd: string): Promise<Record<string, unknown>> {
    this.proc.stdin.write(`${cmd}\n`);
    return this.next();
  }

  quit(): void {
    if (!this.exited) this.proc.stdin.write('quit\n');
  }
}

function startOurs(dir: string, task: Task): Worker {
  return new Worker(
    'ours',
    spawn(process.execPath, ['--require', 'tsx/cjs', OURS_TS, '--setup', dir, '--task', task], {
      cwd: ROOT,
      env: { ...process.env, ...OURS_ENV },
    }),
  );
}

function startPeer(dir: string, task: Task): Worker {
  return new Worker(
    'peer',
    spawn(PYTHON, [PEER_PY, '--setup', dir, '--task', task], {
      cwd: ROOT,
      env: { ...process.env, ...PEER_ENV },
    }),
  );
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/** How the two sides' first results compare: max |a − b| relative to max |b| for floats, matches for ids. */
function agreement(oursFile: string, peerFile: string): string {
  const a = loadSafetensors(oursFile).tensors;
  const b = loadSafetensors(peerFile).tensors;
  const parts: string[] = [];
  for (const k of Object.keys(b).sort()) {
    if (!a[k]) {
      parts.push(`${k}: missing on our side`);
      continue;
    }
    const x = a[k].dataSync();
    const y = b[k].dataSync();
    if (b[k].dtype === 'int32') {
      let same = 0;
      for (let i = 0; i < y.length; i++) if (x[i] === y[i]) same++;
      parts.push(`${k} ${same}/${y.length} equal`);
    } else {
      let diff = 0;
      let scale = 0;
      for (let i = 0; i < y.length; i++) {
        diff = Math.max(diff, Math.abs(x[i] - y[i]));
        scale = Math.max(scale, Math.abs(y[i]));
      }
      parts.push(`${k} max|Δ| ${diff.toExponential(1)} (rel ${(diff / (scale || 1)).toExponential(1)})`);
    }
  }
  tf.dispose([...Object.values(a), ...Object.values(b)]);
  return parts.join(', ');
}

export interface ResultRow {
  name: string;
  ours_ms: number;
  peer_ms: number;
  ratio: number;
  ours_peak_mb: number;
  peer_peak_mb: number;
  config: string;
  /** Fastest run of each side (least disturbed by other load) and their ratio. */
  ours_min_ms: number;
  peer_min_ms: number;
  ratio_min: number;
  /**
   * Median over the repeats of ours/peer within each repeat (the two runs sit side by side in time), which
   * cancels the host's slower stretches that a ratio of medians keeps.
   */
  ratio_paired: number;
  /** Median CPU time of a run (all threads; onnxruntime's spinning threads count against us). */
  ours_cpu_ms: number;
  peer_cpu_ms: number;
  ratio_cpu: number;
  ours_gflops?: number;
  peer_gflops?: number;
  load_avg: number;
  check: string;
  ours_passes?: number;
  peer_passes?: number;
}

async function measure(
  dir: string,
  cfgName: string,
  task: Task,
  repeats: number,
  taskFlops: number | undefined,
): Promise<ResultRow> {
  const ours = startOurs(dir, task);
  const peer = startPeer(dir, task);
  try {
    await Promise.all([ours.ready(), peer.ready()]);
    // first (untimed) run on each side, and its result compared
    const w1 = await ours.ask('run');
    const w2 = await peer.ask('run');
    const oFile = path.join(dir, `check-ours-${task}.safetensors`);
    const pFile = path.join(dir, `check-peer-${task}.safetensors`);
    await ours.ask(`check ${oFile}`);
    await peer.ask(`check ${pFile}`);
    const check = agreement(oFile, pFile);
    for (let r = 1; r < WARMUP; r++) {
      await ours.ask('run');
      await peer.ask('run');
    }
    const o: number[] = [];
    const p: number[] = [];
    const oc: number[] = [];
    const pc: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const order = r % 2 === 0 ? [ours, peer] : [peer, ours];
      for (const w of order) {
        // a pause, so that threads the other side left spinning (OpenBLAS, onnxruntime) are asleep again
        await new Promise((resolve) => setTimeout(resolve, GAP_MS));
        const res = await w.ask(task === 'train' ? `run ${TRAIN_BURST}` : 'run');
        (w === ours ? o : p).push(res.ms as number);
        (w === ours ? oc : pc).push(res.cpu_ms as number);
      }
    }
    const om = (await ours.ask('mem')).peak_mb as number;
    const pm = (await peer.ask('mem')).peak_mb as number;
    const oursMs = median(o);
    const peerMs = median(p);
    const row: ResultRow = {
      name: `${cfgName}: ${TASK_LABEL[task]}`,
      ours_ms: round(oursMs),
      peer_ms: round(peerMs),
      ratio: round(oursMs / peerMs, 3),
      ours_peak_mb: round(om, 1),
      peer_peak_mb: round(pm, 1),
      config: cfgName,
      ours_min_ms: round(Math.min(...o)),
      peer_min_ms: round(Math.min(...p)),
      ratio_min: round(Math.min(...o) / Math.min(...p), 3),
      ratio_paired: round(median(o.map((x, i) => x / p[i])), 3),
      ours_cpu_ms: round(median(oc)),
      peer_cpu_ms: round(median(pc)),
      ratio_cpu: round(median(oc) / median(pc), 3),
      load_avg: round(os.loadavg()[0], 1),
      check,
    };
    if (taskFlops) {
      row.ours_gflops = round(taskFlops / oursMs / 1e6, 2);
      row.peer_gflops = round(taskFlops / peerMs / 1e6, 2);
    }
    if (w1.passes !== undefined) {
      row.ours_passes = w1.passes as number;
      row.peer_passes = w2.passes as number;
    }
    return row;
  } finally {
    ours.quit();
    peer.quit();
  }
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

async function main(): Promise<void> {
  const probe = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    console.error(
      `peer-bench: ${PYTHON} cannot import torch; install Debian's python3-torch (apt-get install -y python3-torch), or set DDIT_PEER_PYTHON`,
    );
    process.exit(2);
  }
  const configs = opt('--configs', 'small,large').split(',');
  const tasks = opt('--tasks', ALL_TASKS.join(',')).split(',') as Task[];
  for (const t of tasks) if (!ALL_TASKS.includes(t)) throw new Error(`unknown task ${t}`);
  const repeats = Number(opt('--repeats', '9'));
  const trainRepeats = Number(opt('--train-repeats', '3'));
  const out = path.resolve(opt('--out', path.join(ROOT, 'bench-results.json')));
  await initRuntime();
  const sgemm = spawnSync(PYTHON, [PEER_PY, '--sgemm'], {
    env: { ...process.env, ...PEER_ENV },
    encoding: 'utf8',
  });
  const ceiling =
    (JSON.parse(sgemm.stdout.trim().split('\n').pop() ?? '{}') as { gflops?: number }).gflops ?? NaN;
  console.log(
    `machine: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load average ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  );
  console.log(
    `measured fp32 sgemm ceiling (torch.mm, OpenBLAS ${PEER_ENV.OPENBLAS_NUM_THREADS} threads, best of 10): ${ceiling.toFixed(0)} GFLOP/s`,
  );
  const rows: ResultRow[] = [];
  for (const c of configs) {
    const b = CONFIGS[c];
    if (!b) throw new Error(`unknown config ${c} (small, large)`);
    console.log(`\n[${c}] setting up (hidden ${b.width}, ${b.layers} blocks, ${b.heads} heads)…`);
    const s = await setup(b);
    for (const t of tasks) {
      const f =
        t === 'fwd_b1'
          ? s.flops.ddit
          : t === 'fwd_b16'
            ? 16 * s.flops.ddit
            : t === 'train'
              ? 16 * (6 * s.flops.ddit + s.flops.t5)
              : undefined;
      const row = await measure(s.dir, c, t, t === 'train' ? trainRepeats : repeats, f);
      rows.push(row);
      console.log(
        `  ${pad(TASK_LABEL[t], 30)} ours ${pad(row.ours_ms.toFixed(1), 9, true)} ms  peer ${pad(row.peer_ms.toFixed(1), 9, true)} ms  ratio ${row.ratio.toFixed(2)} (paired ${row.ratio_paired.toFixed(2)}, best-of ${row.ratio_min.toFixed(2)}, cpu ${row.ratio_cpu.toFixed(2)})  (load ${row.load_avg}; ${row.check}${row.ours_passes !== undefined ? `; passes ${row.ours_passes}/${row.peer_passes}` : ''})`,
      );
    }
  }
  console.log(
    '\n| config | task | ours ms | PyTorch ms | ratio | paired | ours peak MB | PyTorch peak MB | GFLOP/s ours / PyTorch | load |',
  );
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const gf = r.ours_gflops !== undefined ? `${r.ours_gflops} / ${r.peer_gflops}` : '–';
    console.log(
      `| ${r.config} | ${r.name.split(': ')[1]} | ${r.ours_ms} | ${r.peer_ms} | ${r.ratio} | ${r.ratio_paired} | ${r.ours_peak_mb} | ${r.peer_peak_mb} | ${gf} | ${r.load_avg} |`,
    );
  }
  console.log(
    `(sgemm ceiling ${ceiling.toFixed(0)} GFLOP/s; ratio = ours/PyTorch of the medians, paired = median of the per-repeat ratios; lower is better)`,
  );
  fs.writeFileSync(out, `${JSON.stringify(rows, null, 2)}\n`);
  console.log(`wrote ${path.relative(process.cwd(), out) || out}`);
  process.exit(0);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
