/**
 * Caption scoring: the caption is read back into a partial scene (parse-caption.ts) and compared with
 * the true scene.
 * - Exact scene: the caption names as many objects as there are, and some one-to-one pairing of named
 *   and true objects gives every object its true shape and colour (colour must be stated), and makes
 *   everything else the caption states true (sizes, "on the left", "left of").
 * - Per attribute: count (right number of objects), shape and colour (share of objects named with the
 *   right shape / colour, as multisets, over the larger of the two counts), size and position (share
 *   of stated sizes / positions that are true under the best pairing; only where the caption states any).
 */
import { parseCaption, type CaptionGroup, type ParsedCaption } from '../data/shapes/parse-caption';
import { relationHolds, whereIs, type Relation } from '../data/shapes/relations';
import type { Scene, SceneObject } from '../data/shapes/world';

export const CAPTION_ATTRIBUTES = ['count', 'shape', 'color', 'size', 'position'] as const;
export type CaptionAttribute = (typeof CAPTION_ATTRIBUTES)[number];

export interface CaptionScore {
  exact: boolean;
  /** Per attribute in [0, 1]; absent where the caption states nothing of that kind (size, position). */
  attributes: Partial<Record<CaptionAttribute, number>>;
  parsed: ParsedCaption;
}

/** Captions naming more objects than this are cut (they cannot match a scene of at most four). */
const MAX_NAMED = 8;

interface Named extends CaptionGroup {
  group: number;
}

function expand(parsed: ParsedCaption): Named[] {
  const out: Named[] = [];
  parsed.groups.forEach((g, group) => {
    for (let k = 0; k < g.count && out.length < MAX_NAMED; k++) out.push({ ...g, group });
  });
  return out;
}

function multisetOverlap<T>(a: T[], b: T[]): number {
  const counts = new Map<T, number>();
  for (const v of b) counts.set(v, (counts.get(v) ?? 0) + 1);
  let n = 0;
  for (const v of a) {
    const c = counts.get(v) ?? 0;
    if (c > 0) {
      n++;
      counts.set(v, c - 1);
    }
  }
  return n;
}

interface Claims {
  /** Stated sizes that hold, of those stated. */
  sizeOk: number;
  sizeN: number;
  /** Stated positions and relations that hold, of those stated. */
  posOk: number;
  posN: number;
  /** Named objects whose shape and colour (stated) both match. */
  identity: number;
}

/** What the caption's claims come to when named object i is the true object assign[i] (−1: none). */
function evaluateClaims(
  named: Named[],
  parsed: ParsedCaption,
  objs: SceneObject[],
  assign: number[],
): Claims {
  const c: Claims = { sizeOk: 0, sizeN: 0, posOk: 0, posN: 0, identity: 0 };
  named.forEach((n, i) => {
    const o = assign[i] >= 0 ? objs[assign[i]] : undefined;
    if (n.size) {
      c.sizeN++;
      if (o && o.size === n.size) c.sizeOk++;
    }
    if (n.where) {
      c.posN++;
      if (o && whereIs(o) === n.where) c.posOk++;
    }
    if (o && o.shape === n.shape && n.color && o.color === n.color) c.identity++;
  });
  for (const r of parsed.relations) {
    c.posN++;
    if (relationHoldsForGroups(named, objs, assign, r.a, r.rel, r.b)) c.posOk++;
  }
  return c;
}

/** A relation between groups holds when it holds for every pair of their members. */
function relationHoldsForGroups(
  named: Named[],
  objs: SceneObject[],
  assign: number[],
  ga: number,
  rel: Relation,
  gb: number,
): boolean {
  const as = named.flatMap((n, i) => (n.group === ga ? [assign[i]] : []));
  const bs = named.flatMap((n, i) => (n.group === gb ? [assign[i]] : []));
  if (as.length === 0 || bs.length === 0) return false;
  return as.every((a) => bs.every((b) => a >= 0 && b >= 0 && relationHolds(objs[a], objs[b], rel)));
}

/** Every pairing of named objects with distinct true objects (or none), calling visit for each. */
function forEachAssignment(nNamed: number, nTrue: number, visit: (assign: number[]) => void): void {
  const assign = new Array<number>(nNamed).fill(-1);
  const used = new Array<boolean>(nTrue).fill(false);
  const rec = (i: number): void => {
    if (i === nNamed) {
      visit(assign);
      return;
    }
    for (let j = 0; j < nTrue; j++) {
      if (used[j]) continue;
      used[j] = true;
      assign[i] = j;
      rec(i + 1);
      used[j] = false;
    }
    assign[i] = -1;
    // Leaving this one unpaired only makes sense when there are more named objects than true ones.
    if (nNamed - i > nTrue - used.filter(Boolean).length) rec(i + 1);
  };
  rec(0);
}

export function scoreCaption(scene: Scene, caption: string): CaptionScore {
  const parsed = parseCaption(caption);
  const named = expand(parsed);
  const objs = scene.objects;
  const attributes: CaptionScore['attributes'] = {};
  const denom = Math.max(named.length, objs.length);
  attributes.count = named.length === objs.length ? 1 : 0;
  attributes.shape =
    multisetOverlap(
      named.map((n) => n.shape),
      objs.map((o) => o.shape),
    ) / denom;
  attributes.color =
    multisetOverlap(
      named.flatMap((n) => (n.color ? [n.color] : [])),
      objs.map((o) => o.color),
    ) / denom;

  let best: Claims | undefined;
  let exact = false;
  forEachAssignment(named.length, objs.length, (assign) => {
    const c = evaluateClaims(named, parsed, objs, assign);
    const all = c.identity === named.length && c.sizeOk === c.sizeN && c.posOk === c.posN;
    if (all && named.length === objs.length) exact = true;
    const score = (x: Claims): number => x.identity * 100 + x.sizeOk + x.posOk;
    if (!best || score(c) > score(best)) best = c;
  });
  if (best && best.sizeN > 0) attributes.size = best.sizeOk / best.sizeN;
  if (best && best.posN > 0) attributes.position = best.posOk / best.posN;
  return { exact, attributes, parsed };
}
