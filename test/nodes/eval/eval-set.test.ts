import fs from 'node:fs';
import path from 'node:path';
import { publicEvalSet } from '../../../nodes/eval/build-public-set';
import { EvalSetError, lintEvalSet, validateEvalSet } from '../../../nodes/eval/eval-set';

const publicFile = path.join(__dirname, '../../../workflows/eval/shapes-public.json');
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v));

const minimal = {
  name: 'mini',
  version: 1,
  t2i: [
    {
      id: 't1',
      category: 'position',
      prompt: 'a circle left of a square',
      require: {
        objects: [{ shape: 'circle' }, { shape: 'square' }],
        relation: { a: 0, rel: 'left of', b: 1 },
      },
    },
  ],
  caption: [
    {
      id: 'c1',
      scene: {
        background: 'black',
        objects: [{ shape: 'circle', color: 'red', size: 'small', x: 0.3, y: 0.3 }],
      },
    },
  ],
  vqa: [
    {
      id: 'v1',
      scene: {
        background: 'black',
        objects: [{ shape: 'circle', color: 'red', size: 'small', x: 0.3, y: 0.3 }],
      },
      question: 'what color is the circle?',
      answer: 'red',
    },
  ],
};

function problemsOf(value: unknown): string {
  try {
    validateEvalSet(value, 'test.json');
  } catch (e) {
    expect(e).toBeInstanceOf(EvalSetError);
    return (e as Error).message;
  }
  throw new Error('expected the set to be rejected');
}

describe('eval sets', () => {
  it('ships the public set, valid, reproducible and consistent with the rules', () => {
    const committed = JSON.parse(fs.readFileSync(publicFile, 'utf8'));
    const set = validateEvalSet(committed, publicFile);
    expect(committed).toEqual(clone(publicEvalSet()));
    expect(set.t2i.length).toBe(50);
    expect(set.caption.length).toBe(40);
    expect(set.vqa.length).toBe(60);
    expect(lintEvalSet(set)).toEqual([]);
  });

  it('accepts the format of the issue and defaults missing sections to empty', () => {
    expect(validateEvalSet(clone(minimal)).t2i).toHaveLength(1);
    const only = validateEvalSet({ name: 'x', version: 1, vqa: minimal.vqa });
    expect(only.t2i).toEqual([]);
    expect(only.caption).toEqual([]);
  });

  it('names the item and field of schema errors', () => {
    const bad = clone(minimal) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    bad.t2i[0].category = 'texture';
    bad.t2i[0].require.relation.rel = 'near';
    bad.vqa[0].scene.objects[0].color = 'pink';
    const msg = problemsOf(bad);
    expect(msg).toContain('invalid eval set test.json');
    expect(msg).toContain(
      '/t2i/0/category must be equal to one of the allowed values: single_object, two_object',
    );
    expect(msg).toContain('/t2i/0/require/relation/rel must be equal to one of the allowed values: left of');
    expect(msg).toContain('/vqa/0/scene/objects/0/color must be equal to one of the allowed values');
    expect(problemsOf({ ...clone(minimal), version: 2 })).toContain('/version must be equal to constant: 1');
    expect(problemsOf({ version: 1 })).toContain("must have required property 'name'");
  });

  it('checks what a schema cannot: relation indices, legal scenes, unique ids', () => {
    const bad = clone(minimal);
    bad.t2i[0].require.relation.b = 2;
    bad.caption[0].scene.objects.push({ shape: 'square', color: 'blue', size: 'small', x: 0.35, y: 0.3 });
    bad.vqa[0].id = 'c1';
    const msg = problemsOf(bad);
    expect(msg).toContain('/t2i/0/require/relation: a and b must index require.objects (0..1)');
    expect(msg).toContain('/caption/0/scene.objects: objects 0 and 1 overlap');
    expect(msg).toContain('/vqa/0/id "c1" is also used by /caption/0');
  });

  it('lints answers that the rules do not give', () => {
    const set = validateEvalSet(clone(minimal));
    set.vqa[0].answer = 'blue';
    set.vqa.push({ ...set.vqa[0], id: 'v2', question: 'how big is the circle?' });
    expect(lintEvalSet(set)).toEqual([
      '/vqa/0 (v1): answer "blue" but the rules give "red"',
      '/vqa/1 (v2): question "how big is the circle?" is not one of the six forms',
    ]);
  });
});
