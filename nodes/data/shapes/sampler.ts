/**
 * Seeded scene sampler with the training mix from notes/shapes-recipe.md: single objects, random pairs,
 * pairs placed for a relation, counting scenes and crowded scenes of small objects.
 */
import { chance, intIn, pick, uniformIn, weighted, type Rng } from './random';
import { RELATIONS, relationMargin, type Relation } from './relations';
import {
  boxGap,
  COLORS,
  HALF_SIDE,
  SHAPES,
  type Color,
  type Scene,
  type SceneObject,
  type Shape,
  type Size,
} from './world';

export const SCENE_KINDS = ['single', 'pair', 'relation', 'counting', 'crowd'] as const;
export type SceneKind = (typeof SCENE_KINDS)[number];

/** Share of each kind in the training mix (recipe: 28/17/17/26/12 %). */
export const SCENE_MIX: Readonly<Record<SceneKind, number>> = {
  single: 0.28,
  pair: 0.17,
  relation: 0.17,
  counting: 0.26,
  crowd: 0.12,
};

/** Empty space kept between bounding boxes, so that objects stay separate blobs after blur. */
export const MIN_GAP = 0.06;
/** Empty space kept between a box and the canvas edge. */
export const EDGE_MARGIN = 0.02;
/** How far beyond the threshold a placed relation holds, so it survives small position errors. */
export const RELATION_CLEARANCE = 0.05;

export interface SampledScene {
  scene: Scene;
  kind: SceneKind;
  /** For 'relation' scenes: the relation that objects[0] has to objects[1]. */
  relation?: Relation;
}

type Spec = Pick<SceneObject, 'shape' | 'color' | 'size'>;

const round3 = (v: number): number => Math.round(v * 1000) / 1000;

function placeOne(rng: Rng, spec: Spec): SceneObject {
  const h = HALF_SIDE[spec.size];
  const lo = h + EDGE_MARGIN;
  const hi = 1 - h - EDGE_MARGIN;
  return { ...spec, x: round3(uniformIn(rng, lo, hi)), y: round3(uniformIn(rng, lo, hi)) };
}

/**
 * Places the objects one by one at random, each clear of those before it; restarts the whole scene when
 * an object finds no room. `accept` can demand more of the finished layout (a relation).
 */
export function placeObjects(
  rng: Rng,
  specs: Spec[],
  accept?: (objs: SceneObject[]) => boolean,
): SceneObject[] {
  for (let attempt = 0; attempt < 500; attempt++) {
    const placed: SceneObject[] = [];
    for (const spec of specs) {
      let found: SceneObject | undefined;
      for (let t = 0; t < 100 && !found; t++) {
        const cand = placeOne(rng, spec);
        if (placed.every((o) => boxGap(o, cand) >= MIN_GAP)) found = cand;
      }
      if (!found) break;
      placed.push(found);
    }
    if (placed.length === specs.length && (!accept || accept(placed))) return placed;
  }
  throw new Error(`placeObjects: no layout found for ${specs.length} objects`);
}

function randomSpec(rng: Rng, size?: Size, shape?: Shape, color?: Color): Spec {
  return {
    shape: shape ?? pick(rng, SHAPES),
    color: color ?? pick(rng, COLORS),
    size: size ?? pick(rng, ['small', 'large'] as const),
  };
}

/** "pair 0.3, relation 0.22" → the mix (kinds not named weigh 0); '' → SCENE_MIX. Bad text is an error naming it. */
export function parseSceneMix(text: string): Record<SceneKind, number> {
  const parts = text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (parts.length === 0) return { ...SCENE_MIX };
  const mix: Record<SceneKind, number> = { single: 0, pair: 0, relation: 0, counting: 0, crowd: 0 };
  for (const part of parts) {
    const m = part.match(/^([a-z]+)\s*[:=]?\s*(\S+)$/i);
    const kind = m?.[1];
    if (!m || !kind || !(SCENE_KINDS as readonly string[]).includes(kind)) {
      throw new Error(`'${part}' is not "<kind> <weight>" with a kind among ${SCENE_KINDS.join(', ')}`);
    }
    const w = Number(m[2]);
    if (!(Number.isFinite(w) && w >= 0))
      throw new Error(`the weight of '${kind}' must be a number ≥ 0, got ${m[2]}`);
    mix[kind as SceneKind] = w;
  }
  if (SCENE_KINDS.every((k) => mix[k] === 0)) throw new Error('every scene kind weighs 0');
  return mix;
}

export interface SceneOptions {
  /** Weights of the scene kinds (default SCENE_MIX; they need not sum to 1). */
  mix?: Readonly<Record<SceneKind, number>>;
  /** Random pairs always hold two different shapes (default false: one shape twice a third of the time). */
  distinctPairs?: boolean;
}

/** Draws a scene of the given kind, or of a kind drawn from the mix. */
export function sampleScene(rng: Rng, kind?: SceneKind, options: SceneOptions = {}): SampledScene {
  const mix = options.mix ?? SCENE_MIX;
  const k =
    kind ??
    SCENE_KINDS[
      weighted(
        rng,
        SCENE_KINDS.map((s) => mix[s]),
      )
    ];
  const scene = (objects: SceneObject[]): Scene => ({ background: 'black', objects });
  switch (k) {
    case 'single':
      return { kind: k, scene: scene(placeObjects(rng, [randomSpec(rng)])) };
    case 'pair': {
      const specs = [randomSpec(rng), randomSpec(rng)];
      // draws only when asked, so the default stream is the one earlier runs trained on
      while (options.distinctPairs && specs[1].shape === specs[0].shape) specs[1] = randomSpec(rng);
      return { kind: k, scene: scene(placeObjects(rng, specs)) };
    }
    case 'relation': {
      const relation = pick(rng, RELATIONS);
      const specs = [randomSpec(rng), randomSpec(rng)];
      // Two identical objects cannot be told apart in "a red circle left of a red circle"; vary one.
      while (specs[1].shape === specs[0].shape && specs[1].color === specs[0].color)
        specs[1] = randomSpec(rng);
      const objs = placeObjects(rng, specs, ([a, b]) => relationMargin(a, b, relation) >= RELATION_CLEARANCE);
      return { kind: k, relation, scene: scene(objs) };
    }
    case 'counting': {
      const n = intIn(rng, 2, 4);
      const shape = pick(rng, SHAPES);
      const size: Size = n === 2 ? pick(rng, ['small', 'large'] as const) : 'small';
      const sameColor = chance(rng, 0.7);
      const color = pick(rng, COLORS);
      const specs = Array.from({ length: n }, () =>
        randomSpec(rng, size, shape, sameColor ? color : undefined),
      );
      return { kind: k, scene: scene(placeObjects(rng, specs)) };
    }
    case 'crowd': {
      const n = intIn(rng, 3, 4);
      const specs = Array.from({ length: n }, () => randomSpec(rng, 'small'));
      return { kind: k, scene: scene(placeObjects(rng, specs)) };
    }
  }
}
