/**
 * The shapes world's costs and the judge's accuracy: render and judge milliseconds per image at several
 * resolutions, and the share of scenes the judge reads exactly right, clean and degraded (blur σ in
 * pixels, Gaussian noise σ), over 1000 seeded scenes each. Prints figures; asserts nothing.
 */
import { Rng, uniformIn } from '../../nodes/data/shapes/random';
import { renderScene, type RgbImage } from '../../nodes/data/shapes/render';
import { sampleScene } from '../../nodes/data/shapes/sampler';
import { addNoise, gaussianBlur } from '../../nodes/eval/degrade';
import { judgeImage, judgedRight } from '../../nodes/eval/judge';

const N = 1000;
const scenes = ((rng) => Array.from({ length: N }, () => sampleScene(rng).scene))(new Rng(2026, 'bench'));

/** Wall and CPU milliseconds per item (CPU time stays meaningful when other processes share the cores). */
function timePer(fn: () => void, n: number): string {
  const c = process.cpuUsage();
  const t = performance.now();
  fn();
  const wall = (performance.now() - t) / n;
  const cpu = process.cpuUsage(c).user / 1000 / n;
  return `${wall.toFixed(3)} / ${cpu.toFixed(3)}`;
}

// Warm the JIT so the first row is not charged for compiling.
for (const s of scenes.slice(0, 300)) judgeImage(renderScene(s));

console.log(`shapes world, ${N} scenes of the training mix`);
console.log('resolution  render ms/img (wall / cpu)  judge ms/img (wall / cpu)');
for (const width of [32, 64, 128, 256]) {
  const count = width >= 128 ? 200 : N;
  let imgs: RgbImage[] = [];
  const render = timePer(() => (imgs = scenes.slice(0, count).map((s) => renderScene(s, { width }))), count);
  const judge = timePer(() => imgs.forEach((im) => judgeImage(im)), count);
  console.log(`${String(width).padStart(10)}  ${render.padStart(26)}  ${judge.padStart(25)}`);
}

console.log('\njudge accuracy (scene exactly right: count, shape, colour, size, centre within 0.05)');
console.log('resolution  blur σ (px)  noise σ  accuracy');
const cases: [number, [number, number], number][] = [
  [32, [0, 0], 0],
  [32, [0.3, 0.7], 0.03],
  [32, [0.8, 0.8], 0.05],
  [64, [0, 0], 0],
  [64, [1.0, 1.5], 0.04],
];
for (const [width, [b0, b1], noise] of cases) {
  const rng = new Rng(7, `bench-${width}-${b0}-${noise}`);
  let right = 0;
  for (const s of scenes) {
    let img = renderScene(s, { width });
    if (b1 > 0) img = gaussianBlur(img, uniformIn(rng, b0, b1));
    if (noise > 0) img = addNoise(img, noise, rng);
    if (judgedRight(s, judgeImage(img))) right++;
  }
  const blur = b1 === 0 ? '0' : b0 === b1 ? `${b0}` : `${b0}–${b1}`;
  console.log(
    `${String(width).padStart(10)}  ${blur.padStart(11)}  ${noise.toFixed(2).padStart(7)}  ${(right / N).toFixed(3).padStart(8)}`,
  );
}
