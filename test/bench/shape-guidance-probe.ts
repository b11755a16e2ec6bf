/**
 * Can guidance alone make a checkpoint draw the shapes a prompt names? Contrastive shape guidance adds to
 * the shipped CFG what the shape words change in the velocity:
 *
 *   v = v_c + a·(v_c − v_u) + b·(2·v_c − v_r1 − v_r2)/2
 *
 * with v_u the empty prompt's velocity and v_r1, v_r2 the prompt's with every shape word rotated once and
 * twice (circle → square → triangle). a = 0.5, b = 0 is the shipped CFG 1.5. Scored like `ddit eval`'s
 * text-to-image section on generated prompts (models/README.md, session 9). Asserts nothing.
 *
 *   npx tsx test/bench/shape-guidance-probe.ts [checkpoint] [--n 120] [--modes 0.5:0,0.5:0.5,0.5:1]
 */
import * as path from 'path';
import { initRuntime, tf } from '../../server/runtime';
import { loadCheckpoint } from '../../nodes/ddit/checkpoint';
import { inferenceModel } from '../../nodes/ddit/inference';
import type { RgbImage } from '../../nodes/data/shapes/render';
import { SHAPES, type Shape } from '../../nodes/data/shapes/world';
import { encodePrompts } from '../../nodes/eval/ddit-model';
import { generateEvalSet } from '../../nodes/eval/generate-eval-set';
import { runEvaluation, type EvalModel, type ItemContext } from '../../nodes/eval/run-eval';
import { readSamplerSettings } from '../../nodes/eval/sampler-settings';
import { noisedStart, sampleEuler } from '../../nodes/sampling/euler';
import { truncatedSigmas } from '../../nodes/sampling/flow-schedule';
import type { DualModel, Guider } from '../../nodes/sampling/interfaces';
import { Rng } from '../../nodes/sampling/random';
import { asModel, asTextEncoder, asVae } from '../../nodes/sampling/values';
import { probeArgs } from './probe-args';

/** "a circle and two squares" rotated once → "a square and two triangles". */
function rotateShapes(prompt: string, k: number): string {
  return prompt.replace(/\b(circle|square|triangle)(s?)\b/g, (_m, s: string, plural: string) => {
    const i = SHAPES.indexOf(s as Shape);
    return `${SHAPES[(i + k) % SHAPES.length]}${plural}`;
  });
}

/** One batched call per step over [empty, prompt, rotated ×1, rotated ×2] (the last two only when b ≠ 0). */
class ShapeContrastGuider implements Guider {
  constructor(
    private readonly model: DualModel,
    private readonly encodings: tf.Tensor3D[],
    private readonly a: number,
    private readonly b: number,
  ) {}

  async velocity(z: tf.Tensor4D, sigma: number): Promise<tf.Tensor4D> {
    const k = this.encodings.length;
    const zs = tf.concat(
      Array.from({ length: k }, () => z),
      0,
    );
    const tau = tf.fill([k * z.shape[0]], 1000 * sigma) as tf.Tensor1D;
    const enc = tf.concat(this.encodings, 0);
    const out = await this.model.forward(zs, tau, enc, { text: false });
    out.logits?.dispose();
    tf.dispose([zs, tau, enc]);
    if (!out.velocity) throw new Error('shape-guidance-probe: the model returned no velocity');
    const parts = tf.split(out.velocity, k, 0) as tf.Tensor4D[];
    out.velocity.dispose();
    const [vu, vc, r1, r2] = parts;
    const v = tf.tidy(() => {
      let r = tf.add(vc, tf.mul(tf.sub(vc, vu), this.a));
      if (r1 && r2) r = tf.add(r, tf.mul(tf.sub(tf.mul(vc, 2), tf.add(r1, r2)), this.b / 2));
      return r as tf.Tensor4D;
    });
    tf.dispose(parts);
    return v;
  }
}

async function main(): Promise<void> {
  const { opt, file } = probeArgs();
  const n = Number(opt('--n') ?? 120);
  const modes = (opt('--modes') ?? '0.5:0,0.5:0.5,0.5:1').split(',').map((m) => m.split(':').map(Number));
  const ckpt = file ?? path.resolve(__dirname, '../../models/ddit-shapes.safetensors');
  await initRuntime();
  const ck = loadCheckpoint(ckpt);
  const s = readSamplerSettings().t2i;
  const model = asModel(inferenceModel(ck.transformer), 'probe');
  const encoder = asTextEncoder(inferenceModel(ck.textEncoder), 'probe');
  const vae = asVae(inferenceModel(ck.vae), 'probe');
  const f = ck.vae.config.downsample_factor;
  const channels = ck.vae.config.latent_channels;
  const encode = (texts: string[]): Promise<tf.Tensor3D> =>
    encodePrompts(encoder, ck.tokenizer, texts, s.length);
  const set = generateEvalSet({ name: 'shapes-generated-777', seed: 777, t2i: n, caption: 0, vqa: 0 });
  console.log(`${path.relative(process.cwd(), ckpt)}, ${n} generated prompts (seed 777), Euler ${s.steps}`);
  for (const [a, b] of modes) {
    const textToImageBatch = async (prompts: string[], ctx: ItemContext[]): Promise<RgbImage[]> => {
      const texts = [prompts.map(() => ''), prompts];
      if (b !== 0) texts.push(...[1, 2].map((k) => prompts.map((p) => rotateShapes(p, k))));
      const encodings = await Promise.all(texts.map(encode));
      const sigmas = truncatedSigmas(s.steps, s.shift, s.denoise);
      const empty = tf.zeros([1, s.height / f, s.width / f, channels]) as tf.Tensor4D;
      const starts = ctx.map((c) => noisedStart(empty, sigmas[0], new Rng(c.seed)));
      const z = tf.concat(starts, 0);
      tf.dispose([empty, ...starts]);
      const latents = await sampleEuler(new ShapeContrastGuider(model, encodings, a, b), sigmas, z);
      const images = await vae.decode(latents);
      const data = (await images.data()) as Float32Array;
      tf.dispose([z, latents, images, ...encodings]);
      const per = s.width * s.height * 3;
      return prompts.map((_, i) => ({
        width: s.width,
        height: s.height,
        data: data.slice(i * per, (i + 1) * per).map((v) => Math.min(1, Math.max(0, v))),
      }));
    };
    const evalModel: EvalModel = { name: `a ${a}, b ${b}`, textToImageBatch };
    const report = await runEvaluation(set, evalModel, { sections: ['t2i'], seed: 0, resolution: s.width });
    const t2i = report.t2i!;
    const cats = Object.entries(t2i.categories)
      .map(([k, v]) => `${k} ${v.toFixed(2)}`)
      .join(', ');
    const shapeFailures = Object.values(t2i.failures).reduce((sum, f) => sum + (f.shape ?? 0), 0);
    console.log(
      `a ${a}, b ${b}: overall ${t2i.overall.toFixed(3)} (${cats}); shape not drawn in ${shapeFailures}`,
    );
  }
}

void main().then(() => process.exit(0));
