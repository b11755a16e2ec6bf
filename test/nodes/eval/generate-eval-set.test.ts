import { QUESTION_KINDS } from '../../../nodes/data/shapes/questions';
import { lintEvalSet, T2I_CATEGORIES, validateEvalSet } from '../../../nodes/eval/eval-set';
import { generateEvalSet, spread } from '../../../nodes/eval/generate-eval-set';

describe('generateEvalSet', () => {
  const set = generateEvalSet({ name: 'gen', seed: 5, t2i: 30, caption: 12, vqa: 36 });

  it('is deterministic and valid', () => {
    expect(generateEvalSet({ name: 'gen', seed: 5, t2i: 30, caption: 12, vqa: 36 })).toEqual(set);
    expect(generateEvalSet({ name: 'gen', seed: 6, t2i: 30, caption: 12, vqa: 36 })).not.toEqual(set);
    expect(() => validateEvalSet(JSON.parse(JSON.stringify(set)))).not.toThrow();
    expect(lintEvalSet(set)).toEqual([]);
  });

  it('spreads t2i items over the six categories with the requirement each implies', () => {
    for (const c of T2I_CATEGORIES) expect(set.t2i.filter((i) => i.category === c)).toHaveLength(5);
    for (const item of set.t2i) {
      const r = item.require;
      switch (item.category) {
        case 'single_object':
          expect(item.prompt).toMatch(/^a (circle|square|triangle)$/);
          break;
        case 'counting':
          expect(r.count?.n).toBe(r.objects.length);
          expect(item.prompt).toMatch(/^(two|three|four) (circle|square|triangle)s$/);
          break;
        case 'position':
          expect(r.relation).toEqual({ a: 0, rel: expect.any(String), b: 1 });
          expect(r.objects[0].shape).not.toBe(r.objects[1].shape);
          break;
        case 'color_attr':
          expect(r.objects.map((o) => o.color)).toEqual([expect.any(String), expect.any(String)]);
          expect(r.objects[0].color).not.toBe(r.objects[1].color);
          break;
        default:
          break;
      }
    }
  });

  it('covers every question form, with yes/no answers and positions taking turns', () => {
    for (const k of QUESTION_KINDS)
      expect(set.vqa.filter((i) => i.id.startsWith(`vqa-${k}-`))).toHaveLength(6);
    const answers = (k: string): string[] =>
      set.vqa.filter((i) => i.id.startsWith(`vqa-${k}-`)).map((i) => i.answer);
    expect(answers('is_there')).toEqual(['yes', 'no', 'yes', 'no', 'yes', 'no']);
    expect(answers('relation')).toEqual(['yes', 'no', 'yes', 'no', 'yes', 'no']);
    expect(answers('where')).toEqual(['left', 'right', 'top', 'bottom', 'center', 'left']);
  });

  it('splits counts evenly', () => {
    expect(spread(50, 6)).toEqual([9, 9, 8, 8, 8, 8]);
    expect(spread(3, 6)).toEqual([1, 1, 1, 0, 0, 0]);
  });
});
