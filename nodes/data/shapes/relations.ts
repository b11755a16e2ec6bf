/** Spatial relations and the "where" of a single object, exactly as issue 5 defines them. */

// Math's functions bound once: under jest every read of a global such as `Math` goes through the test
// sandbox and costs ~0.4 µs, which dominates per-pixel loops.
const { PI, abs, cos, sin } = Math;

export const RELATIONS = ['left of', 'right of', 'above', 'below'] as const;
export type Relation = (typeof RELATIONS)[number];

export const WHERES = ['left', 'right', 'top', 'bottom', 'center'] as const;
export type Where = (typeof WHERES)[number];

/** Distance the centres must differ by along the axis for a relation to hold. */
export const RELATION_THRESHOLD = 0.1;
/** Half-width of the central square for "center". */
export const CENTER_HALF = 0.15;

export interface Point {
  x: number;
  y: number;
}

export function isRelation(v: unknown): v is Relation {
  return typeof v === 'string' && (RELATIONS as readonly string[]).includes(v);
}

/** The relation that holds the other way round: a left of b ⇔ b right of a. */
export const CONVERSE: Readonly<Record<Relation, Relation>> = {
  'left of': 'right of',
  'right of': 'left of',
  above: 'below',
  below: 'above',
};

/**
 * How far the relation is from flipping: positive when it holds, negative when not, in canvas fractions.
 * "a left of b" ⇔ a.x < b.x − 0.1, so the margin is b.x − 0.1 − a.x.
 */
export function relationMargin(a: Point, b: Point, rel: Relation): number {
  switch (rel) {
    case 'left of':
      return b.x - RELATION_THRESHOLD - a.x;

    case 'right of':
      return a.x - (b.x + RELATION_THRESHOLD);
    case 'above':
      return b.y - RELATION_THRESHOLD - a.y;
    case 'below':
      return a.y - (b.y + RELATION_THRESHOLD);
  }
}

export function relationHolds(a: Point, b: Point, rel: Relation): boolean {
  return relationMargin(a, b, rel) > 0;
}

/** Every relation that holds from a to b. */
export function relationsBetween(a: Point, b: Point): Relation[] {
  return RELATIONS.filter((r) => relationHolds(a, b, r));
}

/** "center" inside the central square, else the dominant axis (ties go to left/right). */
export function whereIs(p: Point): Where {
  const dx = p.x - 0.5;
  const dy = p.y - 0.5;
  if (abs(dx) < CENTER_HALF && abs(dy) < CENTER_HALF) return 'center';
  if (abs(dx) >= abs(dy)) return dx < 0 ? 'left' : 'right';
  return dy < 0 ? 'top' : 'bottom';
}

/** True when moving the point by up to `margin` in any direction cannot change whereIs. */
export function whereIsClear(p: Point, margin: number): boolean {
  const w = whereIs(p);
  for (let i = 0; i < 16; i++) {
    const a = (i / 16) * 2 * PI;
    if (whereIs({ x: p.x + margin * cos(a), y: p.y + margin * sin(a) }) !== w) return false;
  }
  return true;
}

/** Phrase that follows an object in a caption: "on the left", "at the top", "in the center". */
export const WHERE_PHRASE: Readonly<Record<Where, string>> = {
  left: 'on the left',
  right: 'on the right',
  top: 'at the top',
  bottom: 'at the bottom',
  center: 'in the center',
};
