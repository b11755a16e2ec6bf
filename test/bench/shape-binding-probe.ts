/**
 * Does a checkpoint's image stream take shapes from the prompt? Two probes on real scenes, read by the judge
 * (models/README.md, "why text-to-image is stuck"). Asserts nothing.
 *
 * 1. One-step x₀: a rendered scene is encoded, noised to σ and denoised in one step (x₀ = z − σ·v) under its
 *    full caption and under the caption with every shape word rotated (circle → square → triangle → circle).
 *    Printed: the share of the scene's objects whose x₀ has the caption's shape and the share that kept the
 *    scene's. A model that follows shape words moves objects to the caption's shape; one that does not keeps
 *    what the noisy image shows.
 * 2. Denoising from σ₀: two-shape scenes noised to σ₀ and sampled to the end with the shipped Euler settings
 *    (CFG 1.5) under their caption and under the empty prompt; printed: scenes that still hold both shapes.
 * 3. Binding in the text: in "a {colour} {shape} and a {colour} {shape}", can a linear probe read the colour
 *    word from the shape word's state, and the shape from the colour word's, at the encoder's output and after
 *    each D-DiT block's text stream? (Ridge regression, one-vs-all, trained on half of the 540 captions and
 *    scored on the other half.) An image token can only take "the shape of the red object" from states that
 *    carry both.
 * 4. Reading: questions about a caption written in the prompt, on a blank canvas ("a red circle left of a
 *    white triangle. what shape is the red object?"; captionQuestion, the items the `caption_questions`
 *    input of ShapesDataset trains on), answered with the shipped VQA sampler at 48 text positions; printed:
 *    accuracy per question kind. The text side binds what it reads when these are answered.
 * 5. Where the image reads the prompt: for captions of real scenes noised to σ = 0.75, the share of each
 *    block's and head's image-query attention that lands on text tokens (the rest is image to image).
 *
 *   npx tsx test/bench/shape-binding-probe.ts [checkpoint] [--n 48] [--text-only]
 */
import * as path from 'path';
import { initRuntime, tf } from '../../server/runtime';
import { loadCheckpoint, type LoadedCheckpoint } from '../../nodes/ddit/checkpoint';
import { fullCaption } from '../../nodes/data/shapes/captions';
import { Rng as SceneRng } from '../../nodes/data/shapes/random';
import { renderScene } from '../../nodes/data/shapes/render';
import { sampleScene } from '../../nodes/data/shapes/sampler';
import { COLORS, SHAPES, type Color, type Scene, type Shape } from '../../nodes/data/shapes/world';
import { captionQuestion } from '../../nodes/data/shapes/instructions';
import type { JointBlock } from '../../nodes/ddit/model';
import { dditEvalModel } from '../../nodes/eval/ddit-model';
import { adaLayerNorm, chunkLast } from '../../server/runtime/nn/ops';
import { judgeImage, type FoundObject } from '../../nodes/eval/judge';
import { readSamplerSettings } from '../../nodes/eval/sampler-settings';
import { scoreVqa } from '../../nodes/eval/score-vqa';
import { CfgGuider } from '../../nodes/sampling/cfg';
import { noisedStart, sampleEuler } from '../../nodes/sampling/euler';
import { truncatedSigmas } from '../../nodes/sampling/flow-schedule';
import { Rng } from '../../nodes/sampling/random';

const SIDE = 32;
const PIXELS = SIDE * SIDE * 3;

function rotated(shape: Shape, k: number): Shape {
  return SHAPES[(SHAPES.indexOf(shape) + k) % SHAPES.length];
}

function rotateCaption(caption: string, k: number): string {
  return caption.replace(/\b(circle|square|triangle)\b/g, (w) => rotated(w as Shape, k));
}

function scenesOf(kind: 'single' | 'pair', n: number, seed: number): Scene[] {
  const rng = new SceneRng(seed, 'binding-probe');
  const out: Scene[] = [];
  while (out.length < n) {
    const s = sampleScene(rng, kind).scene;
    if (kind === 'single' || s.objects[0].shape !== s.objects[1].shape) out.push(s);
  }
  return out;
}

function latents(ck: LoadedCheckpoint, scenes: Scene[]): tf.Tensor4D {
  const data = new Float32Array(scenes.length * PIXELS);
  scenes.forEach((s, i) => data.set(renderScene(s, { width: SIDE }).data, i * PIXELS));
  const x = tf.tensor4d(data, [scenes.length, SIDE, SIDE, 3]);
  const z = ck.vae.encode(x, { mode: 'mean' });
  x.dispose();
  return z;
}

function encode(ck: LoadedCheckpoint, texts: string[]): tf.Tensor3D {
  const ids = tf.tensor2d(
    texts.map((t) => ck.tokenizer.encodePadded(t, 32)),
    undefined,
    'int32',
  );
  const e = ck.textEncoder.encode(ids);
  ids.dispose();
  return e;
}

function judged(ck: LoadedCheckpoint, z: tf.Tensor4D): FoundObject[][] {
  const img = ck.vae.decode(z);
  const px = img.dataSync() as Float32Array;
  img.dispose();
  return Array.from({ length: z.shape[0] }, (_, i) =>
    judgeImage({ width: SIDE, height: SIDE, data: px.slice(i * PIXELS, (i + 1) * PIXELS) }),
  );
}

/** Starts at σ from each scene's latent with its own seeded noise. */
function noised(lat: tf.Tensor4D, sigma: number): tf.Tensor4D {
  const parts = Array.from({ length: lat.shape[0] }, (_, i) => {
    const one = tf.slice(lat, [i, 0, 0, 0], [1, -1, -1, -1]);
    const z = noisedStart(one, sigma, new Rng(7000 + i));
    one.dispose();
    return z;
  });
  const z = tf.concat(parts, 0);
  tf.dispose(parts);
  return z;
}

function x0Probe(ck: LoadedCheckpoint, kind: 'single' | 'pair', n: number): void {
  const scenes = scenesOf(kind, n, kind === 'single' ? 1 : 2);
  const lat = latents(ck, scenes);
  const total = scenes.reduce((a, s) => a + s.objects.length, 0);
  for (const sigma of [0.4, 0.6, 0.8]) {
    const z = noised(lat, sigma);
    const cells: string[] = [];
    for (const k of [0, 1, 2]) {
      const enc = encode(
        ck,
        scenes.map((s) => rotateCaption(fullCaption(s), k)),
      );
      const { velocity } = ck.transformer.forward(z, sigma * 1000, enc, { text: false });
      const x0 = tf.tidy(() => tf.sub(z, tf.mul(velocity!, sigma)) as tf.Tensor4D);
      const found = judged(ck, x0);
      tf.dispose([enc, velocity!, x0]);
      let caption = 0;
      let scene = 0;
      scenes.forEach((s, i) => {
        for (const o of s.objects) {
          // the found object nearest the scene object's centre, if one lies within 0.1 of it
          let best: FoundObject | undefined;
          let bd = 0.01;
          for (const f of found[i]) {
            const d = (f.x - o.x) ** 2 + (f.y - o.y) ** 2;
            if (d < bd) [best, bd] = [f, d];
          }
          if (best?.shape === rotated(o.shape, k)) caption++;
          if (best?.shape === o.shape) scene++;
        }
      });
      cells.push(
        k === 0
          ? `true caption ${(caption / total).toFixed(2)}`
          : `rotated ×${k}: caption's ${(caption / total).toFixed(2)}, scene's ${(scene / total).toFixed(2)}`,
      );
    }
    z.dispose();
    console.log(`  ${kind.padEnd(6)} σ ${sigma}: ${cells.join(' | ')}`);
  }
  lat.dispose();
}

async function fromSigmaProbe(ck: LoadedCheckpoint, n: number): Promise<void> {
  const scenes = scenesOf('pair', n, 3);
  const lat = latents(ck, scenes);
  const pos = encode(
    ck,
    scenes.map((s) => fullCaption(s)),
  );
  const empty = encode(ck, ['']);
  const emptyAll = tf.tile(empty, [n, 1, 1]) as tf.Tensor3D;
  const guiders = {
    caption: new CfgGuider(ck.transformer, { embeds: pos }, { embeds: empty }, 1.5, 'probe'),
    'empty prompt': new CfgGuider(ck.transformer, { embeds: emptyAll }, undefined, 1, 'probe'),
  };
  for (const denoise of [0.3, 0.5, 0.7, 1]) {
    const sigmas = truncatedSigmas(20, 3, denoise);
    const cells: string[] = [];
    for (const [name, guider] of Object.entries(guiders)) {
      const start = noised(lat, sigmas[0]);
      const z = await sampleEuler(guider, sigmas, start);
      const found = judged(ck, z);
      tf.dispose([start, z]);
      const both = scenes.filter((s, i) => s.objects.every((o) => found[i].some((f) => f.shape === o.shape)));
      cells.push(`${name} ${(both.length / n).toFixed(2)}`);
    }
    console.log(`  from σ₀ ${sigmas[0].toFixed(3)}: both shapes drawn — ${cells.join(', ')}`);
  }
  tf.dispose([lat, pos, empty, emptyAll]);
}

/** Solves (XᵀX + λI) W = XᵀY by Gauss–Jordan elimination (d ≈ 130: small enough to do in plain JS). */
function ridge(X: number[][], Y: number[][], lambda: number): number[][] {
  const d = X[0].length;
  const k = Y[0].length;
  const A = Array.from({ length: d }, (_, i) => {
    const row = new Array<number>(d + k).fill(0);
    for (let j = 0; j < d; j++) for (const x of X) row[j] += x[i] * x[j];
    row[i] += lambda;
    for (let c = 0; c < k; c++) X.forEach((x, n) => (row[d + c] += x[i] * Y[n][c]));
    return row;
  });
  for (let c = 0; c < d; c++) {
    let p = c;
    for (let r = c + 1; r < d; r++) if (Math.abs(A[r][c]) > Math.abs(A[p][c])) p = r;
    [A[c], A[p]] = [A[p], A[c]];
    const v = A[c][c];
    for (let j = c; j < d + k; j++) A[c][j] /= v;
    for (let r = 0; r < d; r++) {
      const f = A[r][c];
      if (r !== c && f !== 0) for (let j = c; j < d + k; j++) A[r][j] -= f * A[c][j];
    }
  }
  return A.map((row) => row.slice(d));
}

/** Held-out accuracy of a linear read-out of `labels` (class indices) from `states`. */
function probeAccuracy(states: number[][], labels: number[], classes: number): number {
  const X = states.map((s) => [...s, 1]);
  const Y = labels.map((l) => Array.from({ length: classes }, (_, c) => (c === l ? 1 : 0)));
  const train = X.map((_, i) => i).filter((i) => Math.floor(i / 2) % 2 === 0);
  const test = X.map((_, i) => i).filter((i) => Math.floor(i / 2) % 2 === 1);
  const W = ridge(
    train.map((i) => X[i]),
    train.map((i) => Y[i]),
    1,
  );
  let right = 0;
  for (const i of test) {
    const scores = W[0].map((_, c) => X[i].reduce((a, x, j) => a + x * W[j][c], 0));
    if (scores.indexOf(Math.max(...scores)) === labels[i]) right++;
  }
  return right / test.length;
}

function textBindingProbe(ck: LoadedCheckpoint): void {
  const rows: { text: string; colors: [Color, Color]; shapes: [Shape, Shape] }[] = [];
  for (const c1 of COLORS)
    for (const c2 of COLORS)
      for (const s1 of SHAPES)
        for (const s2 of SHAPES)
          if (c1 !== c2)
            rows.push({ text: `a ${c1} ${s1} and a ${c2} ${s2}`, colors: [c1, c2], shapes: [s1, s2] });
  const ids = rows.map((r) => ck.tokenizer.encodePadded(r.text, 32));
  const shapeIds = new Set(SHAPES.map((s) => ck.tokenizer.encodePadded(s, 4)[0]));
  const shapeAt = ids.map((row) => row.flatMap((t, j) => (shapeIds.has(t) ? [j] : [])));
  const enc = encode(
    ck,
    rows.map((r) => r.text),
  );
  const streams: { name: string; states: number[][][] }[] = [
    { name: 'encoder output', states: enc.arraySync() },
  ];
  // the text stream after each block, on a noise image at σ 0.6 (what the image stream attends to)
  const z = tf.randomNormal([rows.length, 8, 8, 4], 0, 1, 'float32', 3) as tf.Tensor4D;
  const o = observeBlocks(
    ck,
    (i, _b, _args, out) => streams.push({ name: `after block ${i + 1}`, states: out[1].arraySync() }),
    () => ck.transformer.forward(z, 600, enc, { text: true }),
  );
  tf.dispose([z, enc, o.velocity!, o.logits!]);
  for (const { name, states } of streams) {
    const colorAtShape = probeAccuracy(
      rows.flatMap((_, i) => shapeAt[i].map((j) => states[i][j])),
      rows.flatMap((r) => r.colors.map((c) => COLORS.indexOf(c))),
      COLORS.length,
    );
    const shapeAtColor = probeAccuracy(
      rows.flatMap((_, i) => shapeAt[i].map((j) => states[i][j - 1])),
      rows.flatMap((r) => r.shapes.map((s) => SHAPES.indexOf(s))),
      SHAPES.length,
    );
    console.log(
      `  ${name.padEnd(15)} colour at the shape word ${colorAtShape.toFixed(2)} (chance 0.17), ` +
        `shape at the colour word ${shapeAtColor.toFixed(2)} (chance 0.33)`,
    );
  }
}

/** Accuracy per kind on caption questions (blank canvas), with the shipped VQA settings at 48 positions. */
async function readingProbe(ck: LoadedCheckpoint, n: number): Promise<void> {
  const shipped = readSamplerSettings();
  const settings = { ...shipped, vqa: { ...shipped.vqa, length: 48 } };
  const model = dditEvalModel(ck, { settings });
  const rng = new SceneRng(77, 'reading-probe');
  const blank = renderScene({ background: 'black', objects: [] }, { width: SIDE });
  const items: { question: string; answer: string; kind: string }[] = [];
  while (items.length < n * 6) {
    const asked = captionQuestion(rng, sampleScene(rng).scene, undefined, 0.5);
    if (asked) items.push(asked);
  }
  const right = new Map<string, [number, number]>();
  const batch = 24;
  try {
    for (let i = 0; i < items.length; i += batch) {
      const chunk = items.slice(i, i + batch);
      const answers = await model.answerBatch!(
        chunk.map((it) => ({ image: blank, question: it.question })),
        chunk.map((_, j) => ({ id: String(i + j), seed: 1000 + i + j })),
      );
      chunk.forEach((it, j) => {
        const [ok, all] = right.get(it.kind) ?? [0, 0];
        right.set(it.kind, [ok + (scoreVqa(answers[j], it.answer) ? 1 : 0), all + 1]);
      });
    }
  } finally {
    model.dispose();
  }
  const total = [...right.values()].reduce((a, [ok, all]) => [a[0] + ok, a[1] + all], [0, 0]);
  const per = [...right.entries()].map(([k, [ok, all]]) => `${k} ${(ok / all).toFixed(2)}`).join(', ');
  console.log(`  ${(total[0] / total[1]).toFixed(3)} of ${total[1]} (${per})`);
}

type BlockForward = JointBlock['forward'];

/**
 * Runs `run` with `observe` seeing every joint block's inputs and outputs as the model passes them (the
 * blocks' forwards are wrapped for the call and put back after it).
 */
function observeBlocks<T>(
  ck: LoadedCheckpoint,
  observe: (i: number, b: JointBlock, args: Parameters<BlockForward>, out: ReturnType<BlockForward>) => void,
  run: () => T,
): T {
  const blocks = ck.transformer.blocks;
  const saved = blocks.map((b) => b.forward.bind(b));
  blocks.forEach((b, i) => {
    b.forward = (...args: Parameters<BlockForward>) => {
      const out = saved[i](...args);
      observe(i, b, args, out);
      return out;
    };
  });
  try {
    return run();
  } finally {
    blocks.forEach((b, i) => (b.forward = saved[i]));
  }
}

/** Per head: the mean share of an image query's attention weight that falls on text keys in block b. */
function textShare(b: JointBlock, x: tf.Tensor3D, c: tf.Tensor3D, sy: tf.Tensor2D): number[] {
  const mx = chunkLast(b.norm1.forward(sy) as tf.Tensor2D, 6);
  const mc = chunkLast(b.norm1Context.forward(sy) as tf.Tensor2D, 6);
  const xn = adaLayerNorm(x, mx[0], mx[1]);
  const cn = adaLayerNorm(c, mc[0], mc[1]);
  const [batch, nx] = x.shape;
  const m = c.shape[1];
  const h = b.heads;
  const dh = b.width / h;
  const split = (t: tf.Tensor, len: number): tf.Tensor4D =>
    t.reshape([batch, len, h, dh]).transpose([0, 2, 1, 3]) as tf.Tensor4D;
  const q = split(b.attn.toQ.forward(xn), nx);
  const k = tf.concat([split(b.attn.toK.forward(xn), nx), split(b.attn.addK.forward(cn), m)], 2);
  const p = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dh)));
  const onText = tf.sum(tf.slice(p, [0, 0, 0, nx], [batch, h, nx, m]), 3);
  return Array.from(tf.mean(onText, [0, 2]).dataSync());
}

/** Share of image-query attention on text tokens, per block and head, in one batched forward. */
function attentionOnText(ck: LoadedCheckpoint, n: number): void {
  const scenes = scenesOf('pair', n, 91);
  const z0 = latents(ck, scenes);
  const enc = encode(
    ck,
    scenes.map((s) => fullCaption(s)),
  );
  const zs = noised(z0, 0.75);
  const shares: number[][] = [];
  // each block's inputs as the model passes them; the attention weights are recomputed from them
  try {
    const out = observeBlocks(
      ck,
      (_i, b, [x, c, sy]) => shares.push(tf.tidy(() => textShare(b, x, c, sy))),
      () => ck.transformer.forward(zs, 750, enc, { text: false }),
    );
    out.velocity?.dispose();
  } finally {
    tf.dispose([z0, enc, zs]);
  }
  shares.forEach((perHead, i) =>
    console.log(`  block ${i + 1}: ${perHead.map((v, h) => `head ${h + 1} ${v.toFixed(2)}`).join(', ')}`),
  );
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const nAt = args.indexOf('--n');
  const n = nAt >= 0 ? Number(args[nAt + 1]) : 48;
  const file = args.find((a, i) => !a.startsWith('--') && (nAt < 0 || i !== nAt + 1));
  const ckpt = file ?? path.resolve(__dirname, '../../models/ddit-shapes.safetensors');
  await initRuntime();
  const ck = loadCheckpoint(ckpt);
  console.log(
    `${path.relative(process.cwd(), ckpt)} (${ck.transformer.config.num_layers} blocks), ${n} scenes a probe`,
  );
  if (!args.includes('--text-only')) {
    console.log("one-step x₀ with the object's shape as the caption says, or as the scene has it:");
    x0Probe(ck, 'single', n);
    x0Probe(ck, 'pair', n);
    console.log('two-shape scenes noised to σ₀ and sampled to the end (Euler 20, shift 3):');
    await fromSigmaProbe(ck, n);
  }
  console.log('binding in the text (linear probes on held-out captions):');
  textBindingProbe(ck);
  console.log('reading: questions about a caption in the prompt, on a blank canvas:');
  await readingProbe(ck, n);
  console.log('image-query attention on the text (two-object scenes at σ 0.75, under their captions):');
  attentionOnText(ck, n);
}

void main().then(() => process.exit(0));
