import { Rng, uniformIn } from '../../../nodes/data/shapes/random';
import { renderScene, type RgbImage } from '../../../nodes/data/shapes/render';
import { sampleScene } from '../../../nodes/data/shapes/sampler';
import type { Scene } from '../../../nodes/data/shapes/world';
import { addNoise, gaussianBlur } from '../../../nodes/eval/degrade';
import { judgeImage, judgedRight } from '../../../nodes/eval/judge';

function accuracy(n: number, seed: number, make: (scene: Scene, rng: Rng) => RgbImage): number {
  const rng = new Rng(seed, 'judge-test');
  let right = 0;
  for (let i = 0; i < n; i++) {
    const { scene } = sampleScene(rng);
    if (judgedRight(scene, judgeImage(make(scene, rng)))) right++;
  }
  return right / n;
}

describe('judgeImage', () => {
  it('is right on at least 99% of clean 32×32 renders', () => {
    expect(accuracy(400, 1, (s) => renderScene(s))).toBeGreaterThanOrEqual(0.99);
  });

  it('is right on at least 95% of renders with mild blur and noise', () => {
    const acc = accuracy(300, 2, (s, rng) =>
      addNoise(gaussianBlur(renderScene(s), uniformIn(rng, 0.3, 0.7)), 0.03, rng),
    );
    expect(acc).toBeGreaterThanOrEqual(0.95);
  });

  it('works at other resolutions, blurred in proportion', () => {
    expect(accuracy(60, 3, (s) => renderScene(s, { width: 64 }))).toBeGreaterThanOrEqual(0.98);
    const blurred = accuracy(60, 4, (s, rng) =>
      addNoise(gaussianBlur(renderScene(s, { width: 64 }), 1.2), 0.03, rng),
    );
    expect(blurred).toBeGreaterThanOrEqual(0.95);
  });

  it('measures objects painted dimmer than the palette the same way', () => {
    const acc = accuracy(150, 5, (s) => {
      const img = renderScene(s);
      return { ...img, data: img.data.map((v) => v * 0.7) };
    });
    expect(acc).toBeGreaterThanOrEqual(0.97);
  });

  it('reports shape, colour, size and box centre (a triangle is not its centroid)', () => {
    const scene: Scene = {
      background: 'black',
      objects: [{ shape: 'triangle', color: 'green', size: 'large', x: 0.3, y: 0.6 }],
    };
    const [t] = judgeImage(renderScene(scene, { width: 64 }));
    expect(t).toMatchObject({ shape: 'triangle', color: 'green', size: 'large' });
    expect(t.x).toBeCloseTo(0.3, 2);
    expect(t.y).toBeCloseTo(0.6, 2);
    expect(t.area).toBeCloseTo(2 * 0.175 ** 2, 2);
    expect(t.fill).toBeCloseTo(0.5, 1);
    expect(t.skew).toBeLessThan(-0.4);
  });

  it('ignores specks and noise, and finds nothing in black', () => {
    expect(judgeImage(renderScene({ background: 'black', objects: [] }))).toEqual([]);
    const rng = new Rng(6);
    const img = addNoise(renderScene({ background: 'black', objects: [] }), 0.05, rng);
    // A few bright specks of 1–2 pixels: far below half the smallest object.
    for (const p of [40, 300, 301, 777]) img.data.set([1, 0.1, 0.1], p * 3);
    expect(judgeImage(img)).toEqual([]);
  });

  it('rejects data of the wrong length', () => {
    expect(() => judgeImage({ width: 32, height: 32, data: new Float32Array(10) })).toThrow(
      'expected 3072 values for 32×32 RGB, got 10',
    );
  });
});
