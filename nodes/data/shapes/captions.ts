/**
 * Captions of scenes at several levels of detail, from "a circle" to "a large red circle on the left",
 * "three blue squares" and "a red circle left of a white triangle". The full caption is the canonical
 * description the captioning task is trained towards; parse-caption.ts reads the same grammar back.
 */
import { chance, pick, shuffle, type Rng } from './random';
import { relationMargin, relationsBetween, WHERE_PHRASE, whereIs, type Relation } from './relations';
import type { Scene, SceneObject, Shape } from './world';

/** Count words inside captions: one object is "a". */
export const COUNT_WORDS = ['', 'a', 'two', 'three', 'four'] as const;

export function pluralOf(shape: Shape): string {
  return `${shape}s`;
}

export interface Detail {
  size: boolean;
  color: boolean;
}

export const FULL_DETAIL: Detail = { size: true, color: true };

/** "a large red circle", "two red circles", "three squares". */
export function nounPhrase(
  obj: Pick<SceneObject, 'shape' | 'color' | 'size'>,
  count: number,
  detail: Detail,
): string {
  if (!Number.isInteger(count) || count < 1 || count >= COUNT_WORDS.length) {
    throw new Error(`nounPhrase: count must be 1..${COUNT_WORDS.length - 1}, got ${count}`);
  }
  const words: string[] = [COUNT_WORDS[count]];
  if (detail.size) words.push(obj.size);
  if (detail.color) words.push(obj.color);
  words.push(count === 1 ? obj.shape : pluralOf(obj.shape));
  return words.join(' ');
}

export interface Group {
  members: SceneObject[];
}

/** Objects grouped by what the detail level says about them, groups ordered by their leftmost member. */
export function groupObjects(objects: readonly SceneObject[], detail: Detail): Group[] {
  const key = (o: SceneObject): string =>
    [detail.size ? o.size : '', detail.color ? o.color : '', o.shape].join('|');
  const byKey = new Map<string, SceneObject[]>();
  const sorted = [...objects].sort((a, b) => a.x - b.x || a.y - b.y);
  for (const o of sorted) {
    const k = key(o);
    const list = byKey.get(k);
    if (list) list.push(o);
    else byKey.set(k, [o]);
  }
  return [...byKey.values()].map((members) => ({ members }));
}

/** "a, b and c". */
export function joinList(parts: string[]): string {
  if (parts.length <= 1) return parts.join('');
  return `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
}

/** "a red circle, two blue squares and a triangle". */
export function listCaption(scene: Scene, detail: Detail): string {
  return joinList(
    groupObjects(scene.objects, detail).map((g) => nounPhrase(g.members[0], g.members.length, detail)),
  );
}

/** "a large red circle on the left". */
export function whereCaption(obj: SceneObject, detail: Detail): string {
  return `${nounPhrase(obj, 1, detail)} ${WHERE_PHRASE[whereIs(obj)]}`;
}

/** "a red circle left of a white triangle". */
export function relationCaption(a: SceneObject, rel: Relation, b: SceneObject, detail: Detail): string {
  return `${nounPhrase(a, 1, detail)} ${rel} ${nounPhrase(b, 1, detail)}`;
}

function sameDescription(a: SceneObject, b: SceneObject, detail: Detail): boolean {
  return a.shape === b.shape && (!detail.color || a.color === b.color) && (!detail.size || a.size === b.size);
}

/**
 * The canonical caption: every object with size, colour and shape; a single object's position; for two
 * distinguishable objects their relation along the axis they differ most on ("left of" or "above", the
 * left or upper object first); three or four objects as a list, left to right.
 */
export function fullCaption(scene: Scene): string {
  const objs = scene.objects;
  if (objs.length === 1) return whereCaption(objs[0], FULL_DETAIL);
  const stated = fullCaptionRelation(scene);
  if (stated) return relationCaption(stated.a, stated.rel, stated.b, FULL_DETAIL);
  return listCaption(scene, FULL_DETAIL);
}

/**
 * The relation the full caption states, for two distinguishable objects: along the axis they differ
 * most on, "left of" or "above" with the left or upper object first.
 */
export function fullCaptionRelation(
  scene: Scene,
): { a: SceneObject; rel: Relation; b: SceneObject } | undefined {
  const objs = scene.objects;
  if (objs.length !== 2 || sameDescription(objs[0], objs[1], FULL_DETAIL)) return undefined;
  const [p, q] = objs;
  const horizontal = Math.abs(p.x - q.x) >= Math.abs(p.y - q.y);
  const [a, b] = horizontal ? (p.x < q.x ? [p, q] : [q, p]) : p.y < q.y ? [p, q] : [q, p];
  const rel: Relation = horizontal ? 'left of' : 'above';
  // Non-overlapping objects differ by at least 0.2 on their dominant axis, so this always holds.
  return relationMargin(a, b, rel) > 0 ? { a, rel, b } : undefined;
}

export const CAPTION_LEVELS = ['full', 'list', 'where', 'relation'] as const;
export type CaptionLevel = (typeof CAPTION_LEVELS)[number];

export interface Caption {
  text: string;
  level: CaptionLevel;
}

/**
 * A caption at a random level of detail for training text-to-image: 35% full captions, otherwise a list
 * ("a circle", "three blue squares"), a position for single objects, or a relation for pairs, each with
 * size and colour mentioned at random.
 */
export function sampleCaption(rng: Rng, scene: Scene): Caption {
  if (chance(rng, 0.35)) return { text: fullCaption(scene), level: 'full' };
  const detail: Detail = { size: chance(rng, 0.3), color: chance(rng, 0.7) };
  const objs = scene.objects;
  if (objs.length === 1 && chance(rng, 0.5)) return { text: whereCaption(objs[0], detail), level: 'where' };
  if (objs.length === 2 && !sameDescription(objs[0], objs[1], detail) && chance(rng, 0.6)) {
    const [p, q] = shuffle(rng, objs);
    const rels = relationsBetween(p, q);
    if (rels.length > 0) return { text: relationCaption(p, pick(rng, rels), q, detail), level: 'relation' };
  }
  return { text: listCaption(scene, detail), level: 'list' };
}
