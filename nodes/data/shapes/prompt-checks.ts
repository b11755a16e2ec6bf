/**
 * What a text-to-image prompt of the shapes world asks for, as checks the model's own text head can run on
 * a candidate image (self-check, nodes/sampling/self-check.ts): questions of the VQA forms the model was
 * trained on, each with the answer the prompt implies, relations as caption in-fills, and a comparison of the
 * prompt's relation and position claims with a caption. All read the prompt with the caption grammar
 * (parse-caption.ts); a prompt it cannot read yields no checks.
 */
import { parseCaption, type ParsedCaption } from './parse-caption';
import { ANSWER_NUMBERS, formatQuestion } from './questions';
import { CONVERSE, type Relation } from './relations';
import { COLORS } from './world';

export interface PromptQuestion {
  question: string;
  /** The answer the prompt implies (one word). */
  answer: string;
  /**
   * Questions sharing a group are alternatives, of which the best-answered counts: an object named without
   * a colour is asked about once per colour ("is there a red circle?", "is there a green circle?", …).
   */
  group?: number;
}

/**
 * "is there a {colour} {shape}?" → yes for every object the prompt names (every colour as alternatives where
 * it names none), "how many {shape}s are there?" → the number for a counted group, and "where is the
 * {shape}?" → the position a single object is placed at.
 */
export function promptQuestions(prompt: string | ParsedCaption): PromptQuestion[] {
  const parsed = typeof prompt === 'string' ? parseCaption(prompt) : prompt;
  const out: PromptQuestion[] = [];
  parsed.groups.forEach((g, group) => {
    const { shape } = g;
    if (g.color)
      out.push({ question: formatQuestion({ kind: 'is_there', color: g.color, shape }), answer: 'yes' });
    else
      for (const color of COLORS)
        out.push({ question: formatQuestion({ kind: 'is_there', color, shape }), answer: 'yes', group });
    if (g.count > 1 && g.count < ANSWER_NUMBERS.length)
      out.push({ question: formatQuestion({ kind: 'how_many', shape }), answer: ANSWER_NUMBERS[g.count] });
    if (g.where && parsed.groups.length === 1 && g.count === 1)
      out.push({ question: formatQuestion({ kind: 'where', shape }), answer: g.where });
  });
  return out;
}

export interface PromptInfill {
  /** The caption's words, null where masked. */
  words: (string | null)[];
  /** The words expected at masked positions (`at` indexes words). */
  expect: { at: number; word: string }[];
}

/**
 * The prompt's relations between two single objects as full captions to in-fill: the relation words are fixed
 * in the full caption's form (left or upper object first, "left of" or "above") and both noun phrases masked,
 * and the attributes the prompt states are read where they belong. "a circle right of a red square" →
 * "a [·] [·] [·] left of a [·] [·] [·]" expecting red and square at the first phrase, circle at the second:
 * the model in-fills which object it sees on the left, given nothing else.
 */
export function relationInfills(prompt: string | ParsedCaption): PromptInfill[] {
  const p = typeof prompt === 'string' ? parseCaption(prompt) : prompt;
  const out: PromptInfill[] = [];
  for (const r of p.relations) {
    const [a, b] = [p.groups[r.a], p.groups[r.b]];
    if (a.count !== 1 || b.count !== 1) continue;
    out.push(fullCaptionInfill(a, r.rel, b));
  }
  return out;
}

/**
 * relationInfill for "a {rel} b" in the full caption's form: "left of" or "above" with the left or upper object
 * first ("a right of b" → "b left of a"), the form the caption head reads best.
 */
export function fullCaptionInfill(a: NamedPhrase, rel: Relation, b: NamedPhrase): PromptInfill {
  return rel === 'left of' || rel === 'above'
    ? relationInfill(rel, a, b)
    : relationInfill(CONVERSE[rel], b, a);
}

/** What an in-fill names of one object: its shape, and its size and colour where known. */
export interface NamedPhrase {
  shape: string;
  color?: string;
  size?: string;
}

/**
 * "a [·] [·] [·] {rel} a [·] [·] [·]" with both noun phrases (size, colour, shape) masked and the attributes
 * of `first` and `second` expected where they belong.
 */
export function relationInfill(rel: Relation, first: NamedPhrase, second: NamedPhrase): PromptInfill {
  const relation = rel.split(' ');
  const words: (string | null)[] = ['a', null, null, null, ...relation, 'a', null, null, null];
  const expect: { at: number; word: string }[] = [];
  const read = (g: NamedPhrase, start: number): void => {
    if (g.size) expect.push({ at: start + 1, word: g.size });
    if (g.color) expect.push({ at: start + 2, word: g.color });
    expect.push({ at: start + 3, word: g.shape });
  };
  read(first, 0);
  read(second, 4 + relation.length);
  return { words, expect };
}

/** At most this many objects are expanded from either text (the world has at most four). */
const MAX_OBJECTS = 8;

interface NamedObject {
  group: number;
  shape: string;
  color?: string;
  size?: string;
}

function objectsOf(p: ParsedCaption): NamedObject[] {
  const out: NamedObject[] = [];
  p.groups.forEach((g, group) => {
    for (let k = 0; k < g.count && out.length < MAX_OBJECTS; k++)
      out.push({ group, shape: g.shape, color: g.color, size: g.size });
  });
  return out;
}

/** Whether the prompt states a relation or a position, the claims captionClaims compares. */
export function hasClaims(p: ParsedCaption): boolean {
  return p.relations.length > 0 || p.groups.some((g) => g.where);
}

/**
 * How far a caption confirms the prompt's relations and positions: under the pairing of the prompt's objects
 * with the caption's (same shape, and every colour and size the prompt states) that scores best, +1 for each
 * relation the caption states the same way (or as its converse) and each position it states alike, −1 for each
 * it states the other way, over the pairings that pair the most objects. Claims the caption is silent on, or
 * about objects it does not name, count 0, as does a prompt without claims.
 */
export function captionClaims(prompt: string | ParsedCaption, caption: string | ParsedCaption): number {
  const p = typeof prompt === 'string' ? parseCaption(prompt) : prompt;
  if (!hasClaims(p)) return 0;
  const c = typeof caption === 'string' ? parseCaption(caption) : caption;
  const want = objectsOf(p);
  const have = objectsOf(c);
  const assign: number[] = new Array<number>(want.length).fill(-1);
  const used = new Array<boolean>(have.length).fill(false);

  const captionGroup = (promptGroup: number): number | undefined => {
    const i = want.findIndex((w) => w.group === promptGroup);
    return i >= 0 && assign[i] >= 0 ? have[assign[i]].group : undefined;
  };
  const states = (a: number, rel: Relation, b: number): boolean =>
    c.relations.some((r) => r.a === a && r.b === b && r.rel === rel);
  const score = (): number => {
    let s = 0;
    for (const r of p.relations) {
      const a = captionGroup(r.a);
      const b = captionGroup(r.b);
      if (a === undefined || b === undefined) continue;
      if (states(a, r.rel, b) || states(b, CONVERSE[r.rel], a)) s += 1;
      else if (states(a, CONVERSE[r.rel], b) || states(b, r.rel, a)) s -= 1;
    }
    p.groups.forEach((g, pg) => {
      const cg = captionGroup(pg);
      const where = cg === undefined ? undefined : c.groups[cg].where;
      if (g.where && where) s += where === g.where ? 1 : -1;
    });
    return s;
  };

  // Depth-first over partial one-to-one pairings (an object may stay unpaired, at most 8 × 8 objects): the
  // pairings that pair the most objects, and of those the best score, so that leaving an object unpaired
  // cannot dodge a contradiction.
  let bestPaired = -1;
  let best = 0;
  const search = (i: number, paired: number): void => {
    if (i === want.length) {
      const s = score();
      if (paired > bestPaired || (paired === bestPaired && s > best)) [bestPaired, best] = [paired, s];
      return;
    }
    const w = want[i];
    for (let j = 0; j < have.length; j++) {
      const h = have[j];
      if (used[j] || h.shape !== w.shape || (w.color && h.color !== w.color) || (w.size && h.size !== w.size))
        continue;
      used[j] = true;
      assign[i] = j;
      search(i + 1, paired + 1);
      used[j] = false;
      assign[i] = -1;
    }
    search(i + 1, paired);
  };
  search(0, 0);
  return best;
}
