/**
 * Text-to-image pass rule (GenEval-style): the judge's objects must include every required object,
 * matched one to one; a count needs exactly n objects of its shape; a relation must hold between the
 * objects matched to its indices a and b. Extra objects are allowed unless a count forbids them (the
 * issue's rule, as GenEval). `strict` also fails an image holding more objects than the prompt accounts
 * for (its required objects, or n for a count): every caption of the shapes world names every object of
 * its scene, so an extra object is a mistake — and under the plain rule decoded noise, cluttered with
 * blobs, passes most single- and two-object prompts.
 */
import { relationHolds } from '../data/shapes/relations';
import type { T2IRequirement, RequiredObject } from './eval-set';
import type { FoundObject } from './judge';

export interface T2IVerdict {
  pass: boolean;
  /** pass, and no objects beyond what the prompt accounts for. */
  strict: boolean;
  /** Every required object found, matched one to one. */
  objects: boolean;
  count?: boolean;
  relation?: boolean;
  /** Objects found beyond what the prompt accounts for (0 when none). */
  extra: number;
  /** For each required object, the index of the found object it was matched to (−1: none). */
  matched: number[];
}

/** Only the largest objects are considered, which bounds the matching search. */
const MAX_CANDIDATES = 12;

function fits(req: RequiredObject, f: FoundObject): boolean {
  return f.shape === req.shape && (!req.color || f.color === req.color) && (!req.size || f.size === req.size);
}

export function scoreT2I(require: T2IRequirement, found: readonly FoundObject[]): T2IVerdict {
  const cands = found.slice(0, MAX_CANDIDATES);
  const reqs = require.objects;
  const rel = require.relation;
  const assign: number[] = new Array(reqs.length).fill(-1);
  const used = new Array<boolean>(cands.length).fill(false);
  let anyMatch: number[] | undefined;
  let relMatch: number[] | undefined;

  // Depth-first over one-to-one assignments; stops at the first that also satisfies the relation.
  const search = (i: number): boolean => {
    if (i === reqs.length) {
      anyMatch ??= assign.slice();
      if (!rel || relationHolds(cands[assign[rel.a]], cands[assign[rel.b]], rel.rel)) {
        relMatch = assign.slice();
        return true;
      }
      return false;
    }
    for (let j = 0; j < cands.length; j++) {
      if (used[j] || !fits(reqs[i], cands[j])) continue;
      used[j] = true;
      assign[i] = j;
      const done = search(i + 1);
      used[j] = false;
      assign[i] = -1;
      if (done) return true;
    }
    return false;
  };
  search(0);

  const objects = anyMatch !== undefined;
  const allowed = Math.max(reqs.length, require.count?.n ?? 0);
  const extra = Math.max(0, found.length - allowed);
  const verdict: T2IVerdict = {
    pass: false,
    strict: false,
    objects,
    extra,
    matched: relMatch ?? anyMatch ?? assign,
  };
  let pass = objects;
  if (require.count) {
    const { shape, n } = require.count;
    verdict.count = found.filter((f) => f.shape === shape).length === n;
    pass &&= verdict.count;
  }
  if (rel) {
    verdict.relation = relMatch !== undefined;
    pass &&= verdict.relation;
  }
  verdict.pass = pass;
  verdict.strict = pass && extra === 0;
  return verdict;
}

/** Why a text-to-image sample failed, from the coarsest miss to the finest (failureOf). */
export const T2I_FAILURES = ['nothing', 'shape', 'count', 'binding', 'attribute', 'relation'] as const;
export type T2IFailure = (typeof T2I_FAILURES)[number];

/**
 * The first reason in T2I_FAILURES order that explains a failed sample: nothing drawn; a required shape
 * missing altogether ("a square and a triangle" drawn as two triangles); too few (or, for a count, too
 * many) objects of a shape; every required shape and colour drawn but on the wrong objects (binding: "a red
 * circle and a blue square" drawn as a blue circle and a red square); a required colour or size missing
 * (attribute); the objects right but their relation not. Undefined when the sample passed.
 */
export function failureOf(
  require: T2IRequirement,
  found: readonly FoundObject[],
  verdict: T2IVerdict,
): T2IFailure | undefined {
  if (verdict.pass) return undefined;
  if (found.length === 0) return 'nothing';
  const have = new Map<string, number>();
  for (const f of found) have.set(f.shape, (have.get(f.shape) ?? 0) + 1);
  const need = new Map<string, number>();
  for (const o of require.objects) need.set(o.shape, (need.get(o.shape) ?? 0) + 1);
  if ([...need.keys()].some((s) => !have.has(s))) return 'shape';
  if ([...need].some(([s, n]) => (have.get(s) ?? 0) < n)) return 'count';
  if (!verdict.objects) {
    const colors = new Set<string>(found.map((f) => f.color));
    const sizes = new Set<string>(found.map((f) => f.size));
    const drawn = require.objects.every(
      (o) => (!o.color || colors.has(o.color)) && (!o.size || sizes.has(o.size)),
    );
    return drawn ? 'binding' : 'attribute';
  }
  if (verdict.count === false) return 'count';
  return 'relation';
}
