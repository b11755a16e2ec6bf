import { IMAGE, defineNode, expectImage, runtime, socketType, type Tensor4D } from 'ddit-studio/plugin-api';

/** The PALETTE socket type this pack declares in its package.json (ddit.socketTypes). */
export const PALETTE = socketType('PALETTE');

/** A PALETTE value: plain data (no tensors), so it caches for free and goes to the editor as it is. */
export interface Palette {
  /** RGB in [0, 1], most common first. */
  colors: [number, number, number][];
  /** Share of the sampled pixels each colour stands for; sums to 1. */
  weights: number[];
}

export function isPalette(v: unknown): v is Palette {
  const p = v as Palette | null;
  return (
    !!p &&
    Array.isArray(p.colors) &&
    Array.isArray(p.weights) &&
    p.colors.length > 0 &&
    p.colors.length === p.weights.length &&
    p.colors.every((c) => Array.isArray(c) && c.length === 3)
  );
}

function expectPalette(input: string, v: unknown): asserts v is Palette {
  if (!isPalette(v)) throw new Error(`input '${input}': expected a PALETTE ({colors, weights})`);
}

export function toHex([r, g, b]: readonly number[]): string {
  const byte = (v: number): string =>
    Math.round(Math.min(1, Math.max(0, v)) * 255)
      .toString(16)
      .padStart(2, '0');
  return `#${byte(r)}${byte(g)}${byte(b)}`;
}

function dist2(px: Float32Array, i: number, c: readonly number[]): number {
  const dr = px[i] - c[0];
  const dg = px[i + 1] - c[1];
  const db = px[i + 2] - c[2];
  return dr * dr + dg * dg + db * db;
}

/**
 * k-means over RGB pixels (flat [r,g,b,r,g,b…]), seeded by farthest-point picks starting from the pixel
 * nearest the mean: deterministic, so the same image always gives the same palette. Empty clusters are dropped.
 */
export function kMeansPalette(px: Float32Array, k: number, iterations: number): Palette {
  const n = px.length / 3;
  if (n === 0) throw new Error('cannot extract a palette from an empty image');
  const mean = [0, 0, 0];
  for (let i = 0; i < px.length; i += 3) for (let c = 0; c < 3; c++) mean[c] += px[i + c] / n;
  const centres: number[][] = [];
  const nearest = new Float64Array(n).fill(Infinity);
  let pick = 0;
  for (let p = 0; p < n; p++) if (dist2(px, p * 3, mean) < dist2(px, pick * 3, mean)) pick = p;
  while (centres.length < k) {
    centres.push([px[pick * 3], px[pick * 3 + 1], px[pick * 3 + 2]]);
    let far = -1;
    for (let p = 0; p < n; p++) {
      nearest[p] = Math.min(nearest[p], dist2(px, p * 3, centres[centres.length - 1]));
      if (far < 0 || nearest[p] > nearest[far]) far = p;
    }
    if (nearest[far] === 0) break; // fewer distinct colours than k
    pick = far;
  }
  const assign = new Int32Array(n);
  const counts = new Array<number>(centres.length).fill(0);
  for (let it = 0; it < iterations; it++) {
    const sums = centres.map(() => [0, 0, 0]);
    counts.fill(0);
    for (let p = 0; p < n; p++) {
      let best = 0;
      let bestD = Infinity;
      for (let c = 0; c < centres.length; c++) {
        const d = dist2(px, p * 3, centres[c]);
        if (d < bestD) [best, bestD] = [c, d];
      }
      assign[p] = best;
      counts[best]++;
      for (let ch = 0; ch < 3; ch++) sums[best][ch] += px[p * 3 + ch];
    }
    for (let c = 0; c < centres.length; c++) {
      if (counts[c] > 0) centres[c] = sums[c].map((s) => s / counts[c]);
    }
  }
  const order = centres.map((_, i) => i).filter((i) => counts[i] > 0);
  order.sort((a, b) => counts[b] - counts[a] || a - b);
  return {
    colors: order.map((i) => centres[i].map((v) => Math.min(1, Math.max(0, v))) as [number, number, number]),
    weights: order.map((i) => counts[i] / n),
  };
}

export const ExtractPalette = defineNode({
  type: 'ExtractPalette',
  category: 'image/palette',
  description: "The image's dominant colours (k-means over a 64×64 thumbnail of every image in the batch)",
  inputs: {
    image: IMAGE.input(),
    colors: { type: 'INT', default: 6, min: 1, max: 32 },
    iterations: { type: 'INT', default: 12, min: 1, max: 100 },
  },
  outputs: { palette: PALETTE.output() },
  run({ image, colors, iterations }) {
    expectImage('image', image);
    const { tf } = runtime();
    const x = image as unknown as Tensor4D;
    const [, h, w] = x.shape;
    const pixels = tf.tidy(() =>
      h * w > 64 * 64 ? tf.image.resizeBilinear(x, [Math.min(h, 64), Math.min(w, 64)]) : x.clone(),
    );
    const data = pixels.dataSync() as Float32Array;
    pixels.dispose();
    return { palette: kMeansPalette(data, colors, iterations) };
  },
});

export const ApplyPalette = defineNode({
  type: 'ApplyPalette',
  category: 'image/palette',
  description: 'Recolours an image with a palette: every pixel moves toward its nearest palette colour',
  inputs: {
    image: IMAGE.input(),
    palette: PALETTE.input(),
    strength: { type: 'FLOAT', default: 1, min: 0, max: 1, step: 0.01 },
  },
  outputs: { image: IMAGE.output() },
  run({ image, palette, strength }) {
    expectImage('image', image);
    expectPalette('palette', palette);
    const { tf } = runtime();
    const x = image as unknown as Tensor4D;
    return {
      image: tf.tidy(() => {
        const flat = tf.reshape(x, [-1, 3]);
        const centres = tf.tensor2d(palette.colors, [palette.colors.length, 3]);
        // |x - c|² = |x|² - 2 x·c + |c|², as one matmul instead of a [pixels, colours, 3] difference.
        const d = tf.add(
          tf.sub(tf.sum(tf.square(flat), 1, true), tf.mul(tf.matMul(flat, centres, false, true), 2)),
          tf.sum(tf.square(centres), 1),
        );
        const mapped = tf.gather(centres, tf.argMin(d, 1));
        const out = tf.add(flat, tf.mul(tf.sub(mapped, flat), strength));
        return tf.reshape(out, x.shape) as Tensor4D;
      }),
    };
  },
});

export const PaletteToImage = defineNode({
  type: 'PaletteToImage',
  category: 'image/palette',
  description: 'Draws a palette as vertical stripes, each as wide as its share of the image (or all equal)',
  inputs: {
    palette: PALETTE.input(),
    width: { type: 'INT', default: 512, min: 8, max: 4096 },
    height: { type: 'INT', default: 128, min: 8, max: 4096 },
    proportional: { type: 'BOOLEAN', default: true },
  },
  outputs: { image: IMAGE.output() },
  run({ palette, width, height, proportional }) {
    expectPalette('palette', palette);
    const { tf } = runtime();
    const n = palette.colors.length;
    const row = new Float32Array(width * 3);
    let edge = 0;
    let stripe = 0;
    for (let x = 0; x < width; x++) {
      while (stripe < n - 1 && x >= edge + (proportional ? palette.weights[stripe] : 1 / n) * width) {
        edge += (proportional ? palette.weights[stripe] : 1 / n) * width;
        stripe++;
      }
      row.set(palette.colors[stripe], x * 3);
    }
    return {
      image: tf.tidy(() => tf.tile(tf.tensor4d(row, [1, 1, width, 3]), [1, height, 1, 1]) as Tensor4D),
    };
  },
});

export const ShowPalette = defineNode({
  type: 'ShowPalette',
  category: 'image/palette',
  description: "Shows a palette's colours on the node (drawn by this pack's editor extension)",
  output: true,
  inputs: { palette: PALETTE.input() },
  outputs: {},
  run({ palette }, ctx) {
    expectPalette('palette', palette);
    const hex = palette.colors.map(toHex);
    ctx.ui({
      palette: hex,
      weights: palette.weights.map((w) => Math.round(w * 1000) / 1000),
      text: [hex.join(' ')],
    });
    return {};
  },
});
