/**
 * The judge: finds the objects in any RGB image (a render, or a model's output) and says what each is:
 * colour, shape, size and centre. No learning, only measurements that the shapes world makes reliable:
 *
 * - Colour: a pixel of an anti-aliased edge is the object's colour scaled towards black, so pixels are
 *   classified by their direction in RGB space, and an object's colour by its mean direction.
 * - Coverage: each pixel's share of the object is its projection on the object's colour, divided by the
 *   object's own interior level (so a model that paints a dimmer red is measured just the same).
 * - Shape: mass / (largest column sum × largest row sum) is ≈ 1 for a square, π/4 for a circle and ½
 *   for a triangle at any size, position and blur; an upward triangle's row profile is also skewed
 *   (more mass at the bottom), which separates it even when blur rounds it off.
 * - Centre: the centroid, except a triangle's, which sits a third of its half-side below its box centre.
 * - Blobs smaller than half the smallest legal object are ignored, so scattered junk is not an object.
 */
import type { RgbImage } from '../data/shapes/render';
import type { Scene } from '../data/shapes/world';
import {
  COLOR_RGB,
  COLORS,
  HALF_SIDE,
  shapeArea,
  type Color,
  type Shape,
  type Size,
} from '../data/shapes/world';

// Math's functions bound once: under jest every read of a global such as `Math` goes through the test
// sandbox and costs ~0.4 µs, which dominates per-pixel loops.
const { PI, floor, hypot, max, min, pow, sqrt } = Math;

export interface FoundObject {
  shape: Shape;
  color: Color;
  size: Size;
  /** Centre of the object's bounding box, canvas fractions (y grows downwards). */
  x: number;
  y: number;
  /** Area, fraction of the canvas. */
  area: number;
  /** mass / (max column sum × max row sum): ≈1 square, ≈0.785 circle, ≈0.5 triangle. */
  fill: number;
  /** Skewness of the vertical mass distribution: ≈ −0.57 for an upward triangle, ≈ 0 otherwise. */
  skew: number;
}

export interface JudgeOptions {
  /** Blobs below this area (canvas fraction) are ignored; default half the smallest legal object. */
  minArea?: number;
  /** A pixel belongs to an object's core when its brightest channel reaches this; default 0.45. */
  threshold?: number;
}

const PALETTE = COLORS.map((c) => {
  const [r, g, b] = COLOR_RGB[c];
  const v = [r / 255, g / 255, b / 255];
  const n = hypot(v[0], v[1], v[2]);
  return { color: c, unit: [v[0] / n, v[1] / n, v[2] / n] };
});

export const MIN_OBJECT_AREA = min(
  ...(['circle', 'square', 'triangle'] as const).map((s) => shapeArea(s, 'small')),
);
const SIZE_SPLIT = (HALF_SIDE.small + HALF_SIDE.large) / 2;

/** Index into PALETTE of the colour whose direction is closest to (r, g, b). */
function nearestColor(r: number, g: number, b: number): number {
  const n = hypot(r, g, b) || 1;
  let best = 0;
  let bestCos = -Infinity;
  for (let i = 0; i < PALETTE.length; i++) {
    const u = PALETTE[i].unit;
    const cos = (r * u[0] + g * u[1] + b * u[2]) / n;
    if (cos > bestCos) {
      bestCos = cos;
      best = i;
    }
  }
  return best;
}

function checkImage(image: RgbImage): void {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`judgeImage: bad image size ${width}×${height}`);
  }
  if (!data || data.length !== width * height * 3) {
    throw new Error(
      `judgeImage: expected ${width * height * 3} values for ${width}×${height} RGB, got ${data?.length}`,
    );
  }
}

/** Finds the objects in an RGB image, largest first. */
export function judgeImage(image: RgbImage, options: JudgeOptions = {}): FoundObject[] {
  checkImage(image);
  const { width: W, height: H, data } = image;
  const threshold = options.threshold ?? 0.45;
  const minArea = options.minArea ?? MIN_OBJECT_AREA / 2;
  const N = W * H;

  // Per-pixel colour label of bright pixels (−1: background).
  const label = new Int8Array(N).fill(-1);
  for (let p = 0; p < N; p++) {
    const r = data[3 * p];
    const g = data[3 * p + 1];
    const b = data[3 * p + 2];
    if (max(r, g, b) >= threshold) label[p] = nearestColor(r, g, b);
  }

  // Connected cores of same-labelled bright pixels (4-connectivity).
  const comp = new Int32Array(N).fill(-1);
  const cores: number[][] = [];
  const stack: number[] = [];
  for (let p = 0; p < N; p++) {
    if (label[p] < 0 || comp[p] >= 0) continue;
    const id = cores.length;
    const members: number[] = [];
    comp[p] = id;
    stack.push(p);
    while (stack.length) {
      const q = stack.pop() as number;
      members.push(q);
      const qx = q % W;
      const qy = (q - qx) / W;
      const nb = [qx > 0 ? q - 1 : -1, qx < W - 1 ? q + 1 : -1, qy > 0 ? q - W : -1, qy < H - 1 ? q + W : -1];
      for (const n of nb) {
        if (n >= 0 && comp[n] < 0 && label[n] === label[p]) {
          comp[n] = id;
          stack.push(n);
        }
      }
    }
    cores.push(members);
  }

  // Cores too small to be an object even with their soft edges are flicker at another object's rim
  // (a blurred edge between two colours): hand their pixels to an adjacent big core, if any.
  const corePx = max(1, (minArea * N) / 4);
  const big = cores.map((m) => m.length >= corePx);
  for (let id = 0; id < cores.length; id++) {
    if (big[id]) continue;
    let target = -1;
    for (const q of cores[id]) {
      const qx = q % W;
      const qy = (q - qx) / W;
      for (const n of [
        qx > 0 ? q - 1 : -1,
        qx < W - 1 ? q + 1 : -1,
        qy > 0 ? q - W : -1,
        qy < H - 1 ? q + W : -1,
      ]) {
        if (n >= 0 && comp[n] !== id && comp[n] >= 0 && big[comp[n]]) target = comp[n];
      }
    }
    if (target >= 0) {
      for (const q of cores[id]) comp[q] = target;
      cores[target].push(...cores[id]);
      cores[id] = [];
    }
  }
  const coreSize = cores.map((m) => m.length);

  // Soft rims: every other pixel within two steps of a core belongs to the nearest core (breadth first).
  let frontier: number[] = [];
  for (let p = 0; p < N; p++) if (comp[p] >= 0) frontier.push(p);
  for (let step = 0; step < 2; step++) {
    const next: number[] = [];
    for (const q of frontier) {
      const qx = q % W;
      const qy = (q - qx) / W;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const x = qx + dx;
          const y = qy + dy;
          if (x < 0 || y < 0 || x >= W || y >= H) continue;
          const n = y * W + x;
          if (comp[n] < 0) {
            comp[n] = comp[q];
            cores[comp[q]].push(n);
            next.push(n);
          }
        }
      }
    }
    frontier = next;
  }

  const found: FoundObject[] = [];
  for (let id = 0; id < cores.length; id++) {
    if (cores[id].length === 0) continue;
    const obj = measure(image, cores[id], coreSize[id]);
    if (obj && obj.area >= minArea) found.push(obj);
  }
  found.sort((a, b) => b.area - a.area);
  return found;
}

/** Colour, coverage, shape, size and centre of one object: its core pixels come first in `pixels`, then its rim. */
function measure(image: RgbImage, pixels: number[], coreLen: number): FoundObject | undefined {
  const { width: W, height: H, data } = image;
  // Colour: the mean of the core's pixels.
  let sr = 0;
  let sg = 0;
  let sb = 0;
  for (let i = 0; i < coreLen; i++) {
    const p = pixels[i];
    sr += data[3 * p];
    sg += data[3 * p + 1];
    sb += data[3 * p + 2];
  }
  const pal = PALETTE[nearestColor(sr, sg, sb)];
  const dir = hypot(sr, sg, sb) || 1;
  const u = [sr / dir, sg / dir, sb / dir];

  // Projection of each pixel on the object's own colour direction, relative to its interior level.
  const proj = new Float64Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) {
    const p = pixels[i];
    proj[i] = max(0, data[3 * p] * u[0] + data[3 * p + 1] * u[1] + data[3 * p + 2] * u[2]);
  }
  const levels = Array.from(proj.subarray(0, coreLen)).sort((a, b) => a - b);
  const level = max(levels[floor(0.8 * (levels.length - 1))], 1e-6);

  const colSum = new Float64Array(W);
  const rowSum = new Float64Array(H);
  let mass = 0;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < pixels.length; i++) {
    const w = min(1, proj[i] / level);
    if (w <= 0.1) continue;
    const p = pixels[i];
    const px = p % W;
    const py = (p - px) / W;
    colSum[px] += w;
    rowSum[py] += w;
    mass += w;
    mx += w * (px + 0.5);
    my += w * (py + 0.5);
  }
  if (mass <= 0) return undefined;
  const cx = mx / mass;
  const cy = my / mass;
  let m2 = 0;
  let m3 = 0;
  for (let y = 0; y < H; y++) {
    const d = y + 0.5 - cy;
    m2 += rowSum[y] * d * d;
    m3 += rowSum[y] * d * d * d;
  }
  m2 /= mass;
  m3 /= mass;
  const skew = m2 > 0 ? m3 / pow(m2, 1.5) : 0;
  const fill = mass / (max(...colSum) * max(...rowSum));
  const area = mass / (W * H);

  let shape: Shape;
  if (skew < -0.17 || fill < 0.6) shape = 'triangle';
  else if (fill > 0.905) shape = 'square';
  else shape = 'circle';
  const half = shape === 'square' ? sqrt(area) / 2 : shape === 'circle' ? sqrt(area / PI) : sqrt(area / 2);
  const size: Size = half >= SIZE_SPLIT ? 'large' : 'small';
  const x = cx / W;
  const y = cy / H - (shape === 'triangle' ? half / 3 : 0);
  return { shape, color: pal.color, size, x, y, area, fill, skew };
}

/**
 * Whether the judge found exactly the scene's objects: the same count and, one to one, the same shape and
 * colour — and, unless `exact` is false, the same size with the centre within 0.05 of the canvas.
 */
export function judgedRight(scene: Scene, found: readonly FoundObject[], exact = true): boolean {
  if (found.length !== scene.objects.length) return false;
  const used = new Set<number>();
  return scene.objects.every((o) => {
    const j = found.findIndex(
      (f, k) =>
        !used.has(k) &&
        f.shape === o.shape &&
        f.color === o.color &&
        (!exact || (f.size === o.size && Math.hypot(f.x - o.x, f.y - o.y) < 0.05)),
    );
    if (j >= 0) used.add(j);
    return j >= 0;
  });
}
