/**
 * Generates evaluation sets in issue 5's format from a seed: text-to-image prompts spread over the six
 * GenEval-style categories, scenes to caption (the training mix of scene kinds), and VQA items spread
 * over the six question forms, each with one clear answer.
 */
import { intIn, pick, Rng, shuffle } from '../data/shapes/random';
import { COUNT_WORDS } from '../data/shapes/captions';
import { parseQuestion, QUESTION_KINDS, questionsOfKind } from '../data/shapes/questions';
import { RELATIONS, WHERES } from '../data/shapes/relations';
import { sampleScene } from '../data/shapes/sampler';
import { COLORS, SHAPES } from '../data/shapes/world';
import { T2I_CATEGORIES, type EvalSet, type T2ICategory, type T2IItem, type VqaItem } from './eval-set';

export interface GenerateOptions {
  name: string;
  seed: number;
  /** Number of text-to-image items, spread evenly over the categories (default 48). */
  t2i?: number;
  caption?: number;
  /** Number of VQA items, spread evenly over the question forms (default 60). */
  vqa?: number;
}

/** Splits total into k near-equal parts, the larger parts first. */
export function spread(total: number, k: number): number[] {
  return Array.from({ length: k }, (_, i) => Math.floor(total / k) + (i < total % k ? 1 : 0));
}

const pad = (i: number): string => String(i).padStart(3, '0');

export function t2iItem(rng: Rng, category: T2ICategory, id: string): T2IItem {
  const [s1, s2] = shuffle(rng, SHAPES);
  const [c1, c2] = shuffle(rng, COLORS);
  switch (category) {
    case 'single_object':
      return { id, category, prompt: `a ${s1}`, require: { objects: [{ shape: s1 }] } };
    case 'two_object':
      return {
        id,
        category,
        prompt: `a ${s1} and a ${s2}`,
        require: { objects: [{ shape: s1 }, { shape: s2 }] },
      };
    case 'counting': {
      const n = intIn(rng, 2, 4);
      return {
        id,
        category,
        prompt: `${COUNT_WORDS[n]} ${s1}s`,
        require: { objects: Array.from({ length: n }, () => ({ shape: s1 })), count: { shape: s1, n } },
      };
    }
    case 'colors':
      return { id, category, prompt: `a ${c1} ${s1}`, require: { objects: [{ shape: s1, color: c1 }] } };
    case 'position': {
      const rel = pick(rng, RELATIONS);
      return {
        id,
        category,
        prompt: `a ${s1} ${rel} a ${s2}`,
        require: { objects: [{ shape: s1 }, { shape: s2 }], relation: { a: 0, rel, b: 1 } },
      };
    }
    case 'color_attr':
      return {
        id,
        category,
        prompt: `a ${c1} ${s1} and a ${c2} ${s2}`,
        require: {
          objects: [
            { shape: s1, color: c1 },
            { shape: s2, color: c2 },
          ],
        },
      };
  }
}

export function generateEvalSet(options: GenerateOptions): EvalSet {
  const rng = new Rng(options.seed, 'shapes-eval-set');
  const t2i: T2IItem[] = [];
  const perCategory = spread(options.t2i ?? 48, T2I_CATEGORIES.length);
  T2I_CATEGORIES.forEach((category, ci) => {
    const seen = new Set<string>();
    for (let i = 0; i < perCategory[ci]; i++) {
      // Prefer prompts not yet used in this category; small categories (single_object) must repeat.
      let item = t2iItem(rng, category, `t2i-${category}-${pad(i)}`);
      for (let t = 0; t < 30 && seen.has(item.prompt); t++) item = t2iItem(rng, category, item.id);
      seen.add(item.prompt);
      t2i.push(item);
    }
  });

  const caption = Array.from({ length: options.caption ?? 40 }, (_, i) => ({
    id: `caption-${pad(i)}`,
    scene: sampleScene(rng).scene,
  }));

  const vqa: VqaItem[] = [];
  const perKind = spread(options.vqa ?? 60, QUESTION_KINDS.length);
  QUESTION_KINDS.forEach((kind, ki) => {
    // Yes/no and "where" answers take turns, so that always giving one answer cannot score well.
    const cycle =
      kind === 'is_there' || kind === 'relation' ? ['yes', 'no'] : kind === 'where' ? [...WHERES] : undefined;
    for (let i = 0; i < perKind[ki]; i++) {
      const want = cycle?.[i % cycle.length];
      for (let attempt = 0; ; attempt++) {
        if (attempt > 5000)
          throw new Error(`generateEvalSet: no scene answers a "${kind}" question with ${want}`);
        const { scene } = sampleScene(rng);
        let qs = questionsOfKind(scene, kind);
        if (want) qs = qs.filter((q) => q.answer === want);
        if (kind === 'is_there' && want === 'no') {
          // Prefer near misses (a colour or a shape that is in the scene) over unrelated objects.
          const near = qs.filter((q) => {
            const p = parseQuestion(q.question);
            return (
              p?.kind === 'is_there' && scene.objects.some((o) => o.color === p.color || o.shape === p.shape)
            );
          });
          if (near.length) qs = near;
        }
        if (qs.length === 0) continue;
        const qa = pick(rng, qs);
        vqa.push({ id: `vqa-${kind}-${pad(i)}`, scene, question: qa.question, answer: qa.answer });
        break;
      }
    }
  });
  return { name: options.name, version: 1, t2i, caption, vqa };
}
