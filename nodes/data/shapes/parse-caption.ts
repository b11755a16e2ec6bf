/**
 * Reads a caption back into a partial scene: the objects it mentions with whatever attributes it states,
 * positions ("on the left") and relations ("left of"). Lenient: words outside the grammar are collected
 * in `unknown` and skipped, so a half-right caption still yields the objects it gets right.
 */
import { isRelation, WHERES, type Relation, type Where } from './relations';
import { COLORS, SHAPES, SIZES, type Color, type Shape, type Size } from './world';
import { splitWords } from './words';

export interface CaptionGroup {
  count: number;
  shape: Shape;
  color?: Color;
  size?: Size;
  where?: Where;
}

export interface CaptionRelation {
  /** Indices into groups. */
  a: number;
  rel: Relation;
  b: number;
}

export interface ParsedCaption {
  groups: CaptionGroup[];
  relations: CaptionRelation[];
  /** Words that fit no part of the grammar (skipped). */
  unknown: string[];
}

const COUNTS: Record<string, number> = { a: 1, an: 1, one: 1, two: 2, three: 3, four: 4 };
const SEPARATORS = new Set([',', 'and', '.', ';']);

function shapeWord(w: string | undefined): { shape: Shape; plural: boolean } | undefined {
  if (w === undefined) return undefined;
  for (const s of SHAPES) {
    if (w === s) return { shape: s, plural: false };
    if (w === `${s}s`) return { shape: s, plural: true };
  }
  return undefined;
}

export function parseCaption(text: string): ParsedCaption {
  const t = splitWords(text);
  const groups: CaptionGroup[] = [];
  const relations: CaptionRelation[] = [];
  const unknown: string[] = [];
  let pending: { a: number; rel: Relation } | undefined;
  let i = 0;

  const parseNounPhrase = (): CaptionGroup | undefined => {
    let j = i;
    let count: number | undefined;
    if (Object.hasOwn(COUNTS, t[j])) count = COUNTS[t[j++]];
    let color: Color | undefined;
    let size: Size | undefined;
    for (;;) {
      const w = t[j];
      if ((COLORS as readonly string[]).includes(w)) color = w as Color;
      else if ((SIZES as readonly string[]).includes(w)) size = w as Size;
      else break;
      j++;
    }
    const sw = shapeWord(t[j]);
    if (!sw) return undefined;
    i = j + 1;
    const group: CaptionGroup = { count: count ?? (sw.plural ? 2 : 1), shape: sw.shape };
    if (color) group.color = color;
    if (size) group.size = size;
    return group;
  };

  const parseWhere = (): Where | undefined => {
    if (
      ['on', 'at', 'in'].includes(t[i]) &&
      t[i + 1] === 'the' &&
      (WHERES as readonly string[]).includes(t[i + 2])
    ) {
      const w = t[i + 2] as Where;
      i += 3;
      return w;
    }
    return undefined;
  };

  const parseRelation = (): Relation | undefined => {
    let j = i;
    if (t[j] === 'to' && t[j + 1] === 'the') j += 2;
    const two = `${t[j]} ${t[j + 1]}`;
    if (isRelation(two)) {
      i = j + 2;
      return two;
    }
    if (t[j] === 'above' || t[j] === 'below') {
      i = j + 1;
      return t[j] as Relation;
    }
    return undefined;
  };

  while (i < t.length) {
    if (SEPARATORS.has(t[i])) {
      i++;
      continue;
    }
    const g = parseNounPhrase();
    if (!g) {
      unknown.push(t[i++]);
      continue;
    }
    const where = parseWhere();
    if (where) g.where = where;
    groups.push(g);
    const idx = groups.length - 1;
    if (pending) {
      relations.push({ a: pending.a, rel: pending.rel, b: idx });
      pending = undefined;
    }
    const rel = parseRelation();
    if (rel) pending = { a: idx, rel };
  }
  return { groups, relations, unknown };
}
