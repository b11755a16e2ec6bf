/**
 * The shapes world as issue 5 fixes it: scenes of 1–4 non-overlapping coloured shapes on black.
 * Other parties write evaluation files against these types, so the vocabulary here is frozen.
 */

// Math's functions bound once: under jest every read of a global such as `Math` goes through the test
// sandbox and costs ~0.4 µs, which dominates per-pixel loops.
const { PI, abs, max, min } = Math;

export const SHAPES = ['circle', 'square', 'triangle'] as const;

export type Shape = (typeof SHAPES)[number];

export const COLORS = ['red', 'green', 'blue', 'yellow', 'purple', 'white'] as const;
export type Color = (typeof COLORS)[number];

export const SIZES = ['small', 'large'] as const;
export type Size = (typeof SIZES)[number];

/** Half the side of an object's bounding box, as a fraction of the canvas. */
export const HALF_SIDE: Readonly<Record<Size, number>> = { small: 0.1, large: 0.175 };

/**
 * Fixed colours (0–255). Chosen far apart in direction, because anti-aliased edges are the colour scaled
 * towards the black background and the judge classifies a pixel by its direction in RGB space.
 */
export const COLOR_RGB: Readonly<Record<Color, readonly [number, number, number]>> = {
  red: [230, 40, 40],
  green: [40, 200, 60],
  blue: [40, 80, 240],
  yellow: [240, 220, 40],
  purple: [170, 40, 200],
  white: [240, 240, 240],
};

export const MAX_OBJECTS = 4;

export interface SceneObject {
  shape: Shape;
  color: Color;
  size: Size;
  /** Centre of the bounding box, fractions of the canvas width (0 = left edge). */
  x: number;
  /** Centre of the bounding box, fractions of the canvas height (0 = top edge, y grows downwards). */
  y: number;
}

export interface Scene {
  background: 'black';
  objects: SceneObject[];
}

/** Geometry: a square fills its box; a circle is inscribed in it; a triangle points up with its base on the box's bottom edge. */
export function insideShape(shape: Shape, dx: number, dy: number, h: number): boolean {
  switch (shape) {
    case 'square':
      return abs(dx) <= h && abs(dy) <= h;
    case 'circle':
      return dx * dx + dy * dy <= h * h;
    case 'triangle':
      return dy <= h && abs(dx) * 2 <= dy + h;
  }
}

/** Area of a shape as a fraction of the canvas. */
export function shapeArea(shape: Shape, size: Size): number {
  const h = HALF_SIDE[size];
  switch (shape) {
    case 'square':
      return 4 * h * h;
    case 'circle':
      return PI * h * h;
    case 'triangle':
      return 2 * h * h;
  }
}

export function isShape(v: unknown): v is Shape {
  return typeof v === 'string' && (SHAPES as readonly string[]).includes(v);
}
export function isColor(v: unknown): v is Color {
  return typeof v === 'string' && (COLORS as readonly string[]).includes(v);
}
export function isSize(v: unknown): v is Size {
  return typeof v === 'string' && (SIZES as readonly string[]).includes(v);
}

/** True when the two objects' shapes share area (checked on a fine grid over their box intersection). */
export function objectsOverlap(a: SceneObject, b: SceneObject): boolean {
  const ha = HALF_SIDE[a.size];
  const hb = HALF_SIDE[b.size];
  const x0 = max(a.x - ha, b.x - hb);
  const x1 = min(a.x + ha, b.x + hb);
  const y0 = max(a.y - ha, b.y - hb);
  const y1 = min(a.y + ha, b.y + hb);
  if (x1 - x0 <= 1e-9 || y1 - y0 <= 1e-9) return false;
  const n = 24;
  for (let i = 0; i < n; i++) {
    const u = x0 + ((i + 0.5) / n) * (x1 - x0);
    for (let j = 0; j < n; j++) {
      const v = y0 + ((j + 0.5) / n) * (y1 - y0);
      if (insideShape(a.shape, u - a.x, v - a.y, ha) && insideShape(b.shape, u - b.x, v - b.y, hb))
        return true;
    }
  }
  return false;
}

/** Smallest gap between two objects' bounding boxes along the axis that separates them (negative if the boxes intersect). */
export function boxGap(a: SceneObject, b: SceneObject): number {
  const reach = HALF_SIDE[a.size] + HALF_SIDE[b.size];
  return max(abs(a.x - b.x) - reach, abs(a.y - b.y) - reach);
}

const EPS = 1e-6;

/**
 * Checks that a value is a legal scene and returns it typed. Errors name the offending path, e.g.
 * `scene.objects[1].color: "pink" is not one of red, green, …`.
 */
export function validateScene(value: unknown, where = 'scene'): Scene {
  const fail = (path: string, msg: string): never => {
    throw new Error(`${where}${path}: ${msg}`);
  };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail('', 'must be an object');
  const v = value as Record<string, unknown>;
  if (v.background !== undefined && v.background !== 'black') {
    fail('.background', `must be "black", got ${JSON.stringify(v.background)}`);
  }
  if (!Array.isArray(v.objects)) fail('.objects', 'must be an array');
  const list = v.objects as unknown[];
  if (list.length < 1 || list.length > MAX_OBJECTS) {
    fail('.objects', `must hold 1 to ${MAX_OBJECTS} objects, got ${list.length}`);
  }
  const objects: SceneObject[] = list.map((o, i) => {
    const p = `.objects[${i}]`;
    if (o === null || typeof o !== 'object' || Array.isArray(o)) fail(p, 'must be an object');
    const r = o as Record<string, unknown>;
    if (!isShape(r.shape))
      fail(`${p}.shape`, `${JSON.stringify(r.shape)} is not one of ${SHAPES.join(', ')}`);
    if (!isColor(r.color))
      fail(`${p}.color`, `${JSON.stringify(r.color)} is not one of ${COLORS.join(', ')}`);
    if (!isSize(r.size)) fail(`${p}.size`, `${JSON.stringify(r.size)} is not one of ${SIZES.join(', ')}`);
    for (const k of ['x', 'y'] as const) {
      if (typeof r[k] !== 'number' || !Number.isFinite(r[k])) fail(`${p}.${k}`, 'must be a finite number');
    }
    const obj = { shape: r.shape, color: r.color, size: r.size, x: r.x, y: r.y } as SceneObject;
    const h = HALF_SIDE[obj.size];
    for (const k of ['x', 'y'] as const) {
      if (obj[k] - h < -EPS || obj[k] + h > 1 + EPS) {
        fail(`${p}.${k}`, `${obj[k]} puts a ${obj.size} object (half-side ${h}) outside the canvas`);
      }
    }
    return obj;
  });
  for (let i = 0; i < objects.length; i++) {
    for (let j = i + 1; j < objects.length; j++) {
      if (objectsOverlap(objects[i], objects[j])) fail('.objects', `objects ${i} and ${j} overlap`);
    }
  }
  return { background: 'black', objects };
}
