/**
 * How much of a scene survives the VAE: seeded shapes scenes go through encode (posterior mean) and decode,
 * and the judge reads the reconstruction. Prints the share read exactly right (every object's shape,
 * colour and size, centre within 0.05) and by shape and colour alone, plus the pixel MSE — an upper bound
 * for what any D-DiT on this VAE can score on text-to-image. Also prints how salient shape is in the latent:
 * the mean squared latent difference between two shapes drawn in the same place, against the same shape moved by
 * one pixel. A flow-matching loss on latents rewards drawing the named shape in proportion to that difference,
 * so a shape difference smaller than a pixel's shift is one the D-DiT barely learns to follow (printed for the
 * least distinct pair, circle and square on the bundled VAE). Asserts nothing.
 *
 *   npx tsx test/bench/vae-judge-bench.ts [models/vae-shapes.safetensors ...] [--n 500]
 */
import * as path from 'path';
import { initRuntime, tf } from '../../server/runtime';
import { loadVae } from '../../nodes/ddit/checkpoint';
import { Rng } from '../../nodes/data/shapes/random';
import { renderScene } from '../../nodes/data/shapes/render';
import { sampleScene } from '../../nodes/data/shapes/sampler';
import { judgeImage, judgedRight } from '../../nodes/eval/judge';
import type { AutoencoderKL } from '../../nodes/vae/model';
import { SHAPES, type SceneObject, type Shape } from '../../nodes/data/shapes/world';

/**
 * Latent MSE between two shapes at the same place, size and colour over latent MSE of a shape moved one pixel
 * right (posterior means, averaged over colours and positions), for the least distinct pair of shapes.
 */
function shapeSalience(vae: AutoencoderKL): { small: number; large: number } {
  const latent = (obj: SceneObject): tf.Tensor => {
    const im = renderScene({ background: 'black', objects: [obj] }, { width: 32 });
    return vae.encode(tf.tensor4d(im.data, [1, 32, 32, 3]), { mode: 'mean' });
  };
  const mse = (a: tf.Tensor, b: tf.Tensor): number =>
    tf.tidy(() => tf.mean(tf.square(tf.sub(a, b))).dataSync()[0]);
  const out = { small: 0, large: 0 };
  for (const size of ['small', 'large'] as const) {
    const pairs = new Map<string, number>();
    let shift = 0;
    for (const color of ['red', 'green', 'blue', 'white'] as const) {
      for (const [x, y] of [
        [0.5, 0.5],
        [0.3, 0.35],
        [0.7, 0.62],
      ]) {
        const at = (shape: Shape, dx = 0): SceneObject => ({ shape, color, size, x: x + dx, y });
        const z = SHAPES.map((s) => latent(at(s)));
        for (let i = 0; i < z.length; i++) {
          for (let j = i + 1; j < z.length; j++) {
            const key = `${SHAPES[i]}/${SHAPES[j]}`;
            pairs.set(key, (pairs.get(key) ?? 0) + mse(z[i], z[j]));
          }
          const moved = latent(at(SHAPES[i], 1 / 32));
          shift += mse(z[i], moved) / SHAPES.length;
          moved.dispose();
        }
        tf.dispose(z);
      }
    }
    out[size] = Math.min(...pairs.values()) / shift;
  }
  return out;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const nAt = args.indexOf('--n');
  const n = nAt >= 0 ? Number(args[nAt + 1]) : 500;
  const files = args.filter((a, i) => !a.startsWith('--') && (nAt < 0 || i !== nAt + 1));
  if (!files.length) files.push(path.resolve(__dirname, '../../models/vae-shapes.safetensors'));
  await initRuntime();
  const scenes = Array.from({ length: n }, (_, i) => sampleScene(new Rng(9000 + i, 'vae-judge')).scene);
  const images = scenes.map((s) => renderScene(s, { width: 32 }));
  console.log(`${n} scenes at 32×32, reconstructed through the VAE's posterior mean`);
  console.log(
    'vae'.padEnd(44) +
      'exact'.padStart(8) +
      'shape+color'.padStart(13) +
      'MSE'.padStart(10) +
      'shape/1px sm'.padStart(14) +
      'shape/1px lg'.padStart(14),
  );
  const clean = images.map((im) => judgeImage(im)).map((f, i) => judgedRight(scenes[i], f));
  console.log('(clean renders)'.padEnd(44) + (clean.filter(Boolean).length / n).toFixed(3).padStart(8));
  for (const file of files) {
    const vae = loadVae(file);
    let exact = 0;
    let loose = 0;
    let se = 0;
    for (let b = 0; b < n; b += 50) {
      const batch = images.slice(b, b + 50);
      const px = new Float32Array(batch.length * 32 * 32 * 3);
      batch.forEach((im, k) => px.set(im.data, k * im.data.length));
      const x = tf.tensor4d(px, [batch.length, 32, 32, 3]);
      const z = vae.encode(x, { mode: 'mean' });
      const y = vae.decode(z);
      const out = y.dataSync() as Float32Array;
      tf.dispose([x, z, y]);
      batch.forEach((im, k) => {
        const rec = { width: 32, height: 32, data: out.slice(k * im.data.length, (k + 1) * im.data.length) };
        for (let i = 0; i < im.data.length; i++) se += (rec.data[i] - im.data[i]) ** 2;
        const found = judgeImage(rec);
        if (judgedRight(scenes[b + k], found)) exact++;
        if (judgedRight(scenes[b + k], found, false)) loose++;
      });
    }
    const salience = shapeSalience(vae);
    vae.dispose();
    console.log(
      path.relative(process.cwd(), file).padEnd(44) +
        (exact / n).toFixed(3).padStart(8) +
        (loose / n).toFixed(3).padStart(13) +
        (se / (n * 32 * 32 * 3)).toFixed(5).padStart(10) +
        salience.small.toFixed(2).padStart(14) +
        salience.large.toFixed(2).padStart(14),
    );
  }
}

void main().then(() => process.exit(0));
