import { expectNoTensorLeak, tf } from '../../../server/runtime';
import type { NodeContext, UiOutput } from '../../../server/engine';
import { AdjustColor, Sharpen, gaussianBlur, gaussianWeights } from '../../../plugins/imagefx/src/filters';
import { ImageGrid, autoColumns } from '../../../plugins/imagefx/src/grid';
import {
  ApplyPalette,
  ExtractPalette,
  PaletteToImage,
  ShowPalette,
  kMeansPalette,
  toHex,
  type Palette,
} from '../../../plugins/imagefx/src/palette';
import { TestPattern } from '../../../plugins/imagefx/src/pattern';

type Img = tf.Tensor4D;

/** Runs a node's run() the way the engine does, with a context that records what it shows. */
async function run<T extends { run: (...a: never[]) => unknown }>(
  node: T,
  inputs: Record<string, unknown>,
): Promise<{ out: Record<string, unknown>; ui: UiOutput[] }> {
  const ui: UiOutput[] = [];
  const ctx = { ui: (o: UiOutput) => ui.push(o) } as unknown as NodeContext;
  const out = (await (node.run as (i: unknown, c: NodeContext) => unknown)(inputs, ctx)) as Record<
    string,
    unknown
  >;
  return { out, ui };
}

function constant(b: number, h: number, w: number, rgb: number[]): Img {
  return tf.tidy(() => tf.mul(tf.ones([b, h, w, 3]), tf.tensor1d(rgb)) as Img);
}

function close(a: tf.Tensor, b: tf.Tensor | number[][][][], tol = 1e-5): void {
  const x = a.arraySync() as number[][][][];
  const y = b instanceof tf.Tensor ? (b.arraySync() as number[][][][]) : b;
  expect(a.shape).toEqual([y.length, y[0].length, y[0][0].length, y[0][0][0].length]);
  x.flat(3).forEach((v, i) => expect(Math.abs(v - y.flat(3)[i])).toBeLessThanOrEqual(tol));
}

describe('imagefx filters', () => {
  test('Gaussian weights are symmetric and sum to 1; blurring a flat image leaves it flat, borders too', () => {
    for (const r of [1, 3, 8]) {
      const w = gaussianWeights(r);
      expect(w).toHaveLength(2 * r + 1);
      expect(w.reduce((a, b) => a + b)).toBeCloseTo(1, 10);
      expect(w).toEqual([...w].reverse());
    }
    const flat = constant(2, 9, 7, [0.2, 0.5, 0.9]);
    close(gaussianBlur(flat, 3), flat);
    // Radius larger than the image is clamped rather than failing.
    close(gaussianBlur(constant(1, 2, 2, [0.3, 0.3, 0.3]), 8), constant(1, 2, 2, [0.3, 0.3, 0.3]));
  });

  test('Sharpen leaves flat areas alone and steepens an edge, staying in [0, 1]', async () => {
    const flat = constant(1, 6, 6, [0.4, 0.4, 0.4]);
    close((await run(Sharpen, { image: flat, amount: 2, radius: 2 })).out.image as Img, flat);
    // Left half dark (0.3), right half light (0.7).
    const edge = tf.tidy(() =>
      tf.concat([constant(1, 4, 4, [0.3, 0.3, 0.3]), constant(1, 4, 4, [0.7, 0.7, 0.7])], 2),
    );
    const sharp = (await run(Sharpen, { image: edge, amount: 1, radius: 1 })).out.image as Img;
    const row = (sharp.arraySync() as number[][][][])[0][1].map((px) => px[0]);
    expect(row[3]).toBeLessThan(0.3); // undershoot on the dark side of the edge
    expect(row[4]).toBeGreaterThan(0.7); // overshoot on the light side
    expect(row[0]).toBeCloseTo(0.3, 5);
    expect(row[7]).toBeCloseTo(0.7, 5);
    const strong = (await run(Sharpen, { image: edge, amount: 5, radius: 2 })).out.image as Img;
    expect(tf.min(strong).dataSync()[0]).toBe(0);
    expect(tf.max(strong).dataSync()[0]).toBe(1);
    close((await run(Sharpen, { image: edge, amount: 0, radius: 3 })).out.image as Img, edge);
  });

  test('Sharpen names its input when it is not an IMAGE', async () => {
    await expect(run(Sharpen, { image: tf.zeros([2, 2, 3]), amount: 1, radius: 1 })).rejects.toThrow(
      "input 'image': expected a tensor of rank 4 with last dimension 3, got [2, 2, 3]",
    );
    await expect(run(Sharpen, { image: 'nope', amount: 1, radius: 1 })).rejects.toThrow("input 'image'");
  });

  test('AdjustColor: defaults change nothing; brightness, contrast, saturation, gamma do what they say', async () => {
    const img = tf.tensor4d([0.25, 0.5, 0.75, 0.1, 0.2, 0.9], [1, 1, 2, 3]);
    const adjust = async (o: Record<string, number>): Promise<number[]> =>
      Array.from(
        (
          (await run(AdjustColor, { image: img, brightness: 0, contrast: 1, saturation: 1, gamma: 1, ...o }))
            .out.image as Img
        ).dataSync(),
      );
    (await adjust({})).forEach((v, i) => expect(v).toBeCloseTo(img.dataSync()[i], 6));
    (await adjust({ brightness: 0.1 })).forEach((v, i) => expect(v).toBeCloseTo(img.dataSync()[i] + 0.1, 6));
    const grey = await adjust({ saturation: 0 });
    expect(grey[0]).toBeCloseTo(0.299 * 0.25 + 0.587 * 0.5 + 0.114 * 0.75, 6);
    expect(new Set(grey.slice(0, 3).map((v) => v.toFixed(6))).size).toBe(1);
    expect((await adjust({ contrast: 0 })).every((v) => Math.abs(v - 0.5) < 1e-6)).toBe(true);
    expect((await adjust({ gamma: 2 }))[0]).toBeCloseTo(0.5, 6); // 0.25^(1/2)
  });
});

describe('imagefx ImageGrid', () => {
  test('lays a batch out in rows with gaps, filling the missing cells with the background', async () => {
    expect([1, 2, 4, 5, 9, 10].map(autoColumns)).toEqual([1, 2, 2, 3, 3, 4]);
    const batch = tf.concat(
      [0.1, 0.2, 0.3, 0.4, 0.5].map((v) => constant(1, 2, 3, [v, v, v])),
      0,
    );
    const grid = (await run(ImageGrid, { images: batch, columns: 0, gap: 1, background: 1 })).out
      .image as Img;
    expect(grid.shape).toEqual([1, 2 * 2 + 1, 3 * 3 + 2, 3]);
    const g = (grid.arraySync() as number[][][][])[0].map((row) => row.map((px) => px[0]));
    const expected = [
      [0.1, 0.1, 0.1, 1, 0.2, 0.2, 0.2, 1, 0.3, 0.3, 0.3],
      [0.1, 0.1, 0.1, 1, 0.2, 0.2, 0.2, 1, 0.3, 0.3, 0.3],
      Array(11).fill(1),
      [0.4, 0.4, 0.4, 1, 0.5, 0.5, 0.5, 1, 1, 1, 1],
      [0.4, 0.4, 0.4, 1, 0.5, 0.5, 0.5, 1, 1, 1, 1],
    ];
    g.forEach((row, y) => row.forEach((v, x) => expect(v).toBeCloseTo(expected[y][x], 6)));
    const strip = (await run(ImageGrid, { images: batch, columns: 9, gap: 0, background: 0 })).out
      .image as Img;
    expect(strip.shape).toEqual([1, 2, 15, 3]);
  });
});

describe('imagefx palettes', () => {
  const red = [0.8, 0.2, 0.2];
  const blue = [0.2, 0.4, 0.8];
  // Three quarters red, one quarter blue.
  const image = (): Img =>
    tf.tidy(() => tf.concat([constant(1, 4, 6, red), constant(1, 4, 2, blue)], 2) as Img);

  test('k-means finds the colours and their shares, most common first, deterministically', () => {
    const px = image().dataSync() as Float32Array;
    const p = kMeansPalette(px, 2, 5);
    expect(p.weights).toEqual([0.75, 0.25]);
    p.colors[0].forEach((v, i) => expect(v).toBeCloseTo(red[i], 6));
    p.colors[1].forEach((v, i) => expect(v).toBeCloseTo(blue[i], 6));
    // Asking for more colours than there are gives the distinct ones only; one colour gives the mean.
    expect(kMeansPalette(px, 6, 5).colors).toHaveLength(2);
    kMeansPalette(px, 1, 5).colors[0].forEach((v, i) =>
      expect(v).toBeCloseTo(0.75 * red[i] + 0.25 * blue[i], 6),
    );
    expect(kMeansPalette(px, 2, 5)).toEqual(p);
    expect(() => kMeansPalette(new Float32Array(0), 2, 5)).toThrow('empty image');
  });

  test('ExtractPalette → ApplyPalette, PaletteToImage and ShowPalette', async () => {
    const palette = (await run(ExtractPalette, { image: image(), colors: 4, iterations: 8 })).out
      .palette as Palette;
    expect(palette.colors.map(toHex)).toEqual(['#cc3333', '#3366cc']);

    const mixed = tf.tensor4d([0.8, 0.2, 0.2, 0.0, 0.3, 0.9], [1, 1, 2, 3]);
    const full = (await run(ApplyPalette, { image: mixed, palette, strength: 1 })).out.image as Img;
    Array.from(full.dataSync()).forEach((v, i) => expect(v).toBeCloseTo([...red, ...blue][i], 6));
    const half = (await run(ApplyPalette, { image: mixed, palette, strength: 0.5 })).out.image as Img;
    expect(half.dataSync()[0]).toBeCloseTo(0.8, 6);
    expect(half.dataSync()[4]).toBeCloseTo((0.3 + 0.4) / 2, 6);

    const stripes = (await run(PaletteToImage, { palette, width: 8, height: 2, proportional: true })).out
      .image as Img;
    expect(stripes.shape).toEqual([1, 2, 8, 3]);
    const firstRow = (stripes.arraySync() as number[][][][])[0][0].map((px) => toHex(px));
    expect(firstRow).toEqual([...Array(6).fill('#cc3333'), ...Array(2).fill('#3366cc')]);
    const equal = (await run(PaletteToImage, { palette, width: 8, height: 1, proportional: false })).out
      .image as Img;
    expect((equal.arraySync() as number[][][][])[0][0].map((px) => toHex(px))).toEqual([
      ...Array(4).fill('#cc3333'),
      ...Array(4).fill('#3366cc'),
    ]);

    const { out, ui } = await run(ShowPalette, { palette });
    expect(out).toEqual({});
    expect(ui).toEqual([
      { palette: ['#cc3333', '#3366cc'], weights: [0.75, 0.25], text: ['#cc3333 #3366cc'] },
    ]);
    await expect(run(ShowPalette, { palette: { colors: [] } })).rejects.toThrow(
      "input 'palette': expected a PALETTE",
    );
  });

  test('TestPattern makes a batch of distinct images of the asked size', async () => {
    for (const pattern of ['gradient', 'checker', 'rings']) {
      const img = (await run(TestPattern, { pattern, width: 16, height: 8, batch: 3 })).out.image as Img;
      expect(img.shape).toEqual([3, 8, 16, 3]);
      expect(tf.min(img).dataSync()[0]).toBeGreaterThanOrEqual(0);
      expect(tf.max(img).dataSync()[0]).toBeLessThanOrEqual(1);
      const [a, b] = tf.unstack(img);
      expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeGreaterThan(0.05);
    }
  });
});

describe('imagefx memory', () => {
  test('every node returns its result and keeps no other tensor alive', async () => {
    const img = (): Img => constant(3, 8, 10, [0.2, 0.6, 0.4]);
    const palette: Palette = {
      colors: [
        [1, 0, 0],
        [0, 0, 1],
      ],
      weights: [0.5, 0.5],
    };
    const cases: [string, () => Promise<unknown>][] = [
      ['TestPattern', () => run(TestPattern, { pattern: 'rings', width: 8, height: 8, batch: 2 })],
      ['Sharpen', () => run(Sharpen, { image: input, amount: 1, radius: 2 })],
      [
        'AdjustColor',
        () => run(AdjustColor, { image: input, brightness: 0.1, contrast: 1.2, saturation: 0.5, gamma: 2 }),
      ],
      ['ImageGrid', () => run(ImageGrid, { images: input, columns: 2, gap: 2, background: 0.5 })],
      ['ExtractPalette', () => run(ExtractPalette, { image: input, colors: 3, iterations: 3 })],
      ['ApplyPalette', () => run(ApplyPalette, { image: input, palette, strength: 0.5 })],
      ['PaletteToImage', () => run(PaletteToImage, { palette, width: 16, height: 4, proportional: true })],
    ];
    const input = img();
    for (const [label, fn] of cases) {
      const { out } = (await expectNoTensorLeak(label, async () => (await fn()) as { out: unknown })) as {
        out: Record<string, unknown>;
      };
      tf.dispose(Object.values(out).filter((v): v is tf.Tensor => v instanceof tf.Tensor));
    }
  });
});
