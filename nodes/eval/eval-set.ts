/**
 * The evaluation-set format of issue 5, its JSON Schema, and validation with errors that say which item
 * and which field is wrong:
 *   { "name", "version": 1, "t2i": [...], "caption": [...], "vqa": [...] }
 */
import Ajv, { type ErrorObject } from 'ajv';
import { RELATIONS, type Relation } from '../data/shapes/relations';
import { answerQuestion, parseQuestion } from '../data/shapes/questions';
import {
  COLORS,
  MAX_OBJECTS,
  SHAPES,
  SIZES,
  validateScene,
  type Color,
  type Scene,
  type Shape,
  type Size,
} from '../data/shapes/world';

export const T2I_CATEGORIES = [
  'single_object',
  'two_object',
  'counting',
  'colors',
  'position',
  'color_attr',
] as const;
export type T2ICategory = (typeof T2I_CATEGORIES)[number];

export interface RequiredObject {
  shape: Shape;
  color?: Color;
  /** Not in the format; accepted as an extension and then required too. */
  size?: Size;
}

export interface T2IRequirement {
  objects: RequiredObject[];
  count?: { shape: Shape; n: number };
  relation?: { a: number; rel: Relation; b: number };
}

export interface T2IItem {
  id: string;
  category: T2ICategory;
  prompt: string;
  require: T2IRequirement;
}

export interface CaptionItem {
  id: string;
  scene: Scene;
}

export interface VqaItem {
  id: string;
  scene: Scene;
  question: string;
  answer: string;
}

export interface EvalSet {
  name: string;
  version: 1;
  t2i: T2IItem[];
  caption: CaptionItem[];
  vqa: VqaItem[];
}

const sceneSchema = {
  type: 'object',
  required: ['objects'],
  properties: {
    background: { const: 'black' },
    objects: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_OBJECTS,
      items: {
        type: 'object',
        required: ['shape', 'color', 'size', 'x', 'y'],
        properties: {
          shape: { enum: SHAPES },
          color: { enum: COLORS },
          size: { enum: SIZES },
          x: { type: 'number', minimum: 0, maximum: 1 },
          y: { type: 'number', minimum: 0, maximum: 1 },
        },
      },
    },
  },
} as const;

const id = { type: 'string', minLength: 1 } as const;

export const EVAL_SET_SCHEMA = {
  $id: 'ddit-studio/shapes-eval-set',
  type: 'object',
  required: ['name', 'version'],
  properties: {
    name: { type: 'string' },
    version: { const: 1 },
    t2i: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'category', 'prompt', 'require'],
        properties: {
          id,
          category: { enum: T2I_CATEGORIES },
          prompt: { type: 'string', minLength: 1 },
          require: {
            type: 'object',
            required: ['objects'],
            additionalProperties: false,
            properties: {
              objects: {
                type: 'array',
                minItems: 1,
                items: {
                  type: 'object',
                  required: ['shape'],
                  additionalProperties: false,
                  properties: { shape: { enum: SHAPES }, color: { enum: COLORS }, size: { enum: SIZES } },
                },
              },
              count: {
                type: 'object',
                required: ['shape', 'n'],
                additionalProperties: false,
                properties: {
                  shape: { enum: SHAPES },
                  n: { type: 'integer', minimum: 0, maximum: MAX_OBJECTS },
                },
              },
              relation: {
                type: 'object',
                required: ['a', 'rel', 'b'],
                additionalProperties: false,
                properties: {
                  a: { type: 'integer', minimum: 0 },
                  rel: { enum: RELATIONS },
                  b: { type: 'integer', minimum: 0 },
                },
              },
            },
          },
        },
      },
    },
    caption: {
      type: 'array',
      items: { type: 'object', required: ['id', 'scene'], properties: { id, scene: sceneSchema } },
    },
    vqa: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'scene', 'question', 'answer'],
        properties: {
          id,
          scene: sceneSchema,
          question: { type: 'string', minLength: 1 },
          answer: { type: 'string', minLength: 1 },
        },
      },
    },
  },
} as const;

let compiled: ReturnType<Ajv['compile']> | undefined;
function schemaValidator(): ReturnType<Ajv['compile']> {
  if (!compiled) compiled = new Ajv({ allErrors: true, strict: true }).compile(EVAL_SET_SCHEMA);
  return compiled;
}

function describeError(e: ErrorObject): string {
  const path = e.instancePath || '(top level)';
  const params = e.params as Record<string, unknown>;
  let msg = e.message ?? 'is invalid';
  if (e.keyword === 'enum') msg += `: ${(params.allowedValues as unknown[]).join(', ')}`;
  if (e.keyword === 'const') msg += `: ${JSON.stringify(params.allowedValue)}`;
  if (e.keyword === 'additionalProperties') msg += `: "${params.additionalProperty}"`;
  return `${path} ${msg}`;
}

export class EvalSetError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    const shown = problems.slice(0, 10);
    const more = problems.length > shown.length ? `\n  … and ${problems.length - shown.length} more` : '';
    super(`invalid eval set ${source}:\n  ${shown.join('\n  ')}${more}`);
    this.name = 'EvalSetError';
  }
}

/**
 * Validates a parsed eval-set JSON value (schema, then what a schema cannot say: legal scenes, relation
 * indices, unique ids) and returns it typed; missing sections become empty lists.
 * @param source names the set in errors (a file path).
 */
export function validateEvalSet(value: unknown, source = 'eval set'): EvalSet {
  const check = schemaValidator();
  if (!check(value)) throw new EvalSetError(source, (check.errors ?? []).map(describeError));
  const v = value as Partial<EvalSet> & { name: string; version: 1 };
  const set: EvalSet = {
    ...v,
    name: v.name,
    version: 1,
    t2i: v.t2i ?? [],
    caption: v.caption ?? [],
    vqa: v.vqa ?? [],
  };
  const problems: string[] = [];
  const ids = new Map<string, string>();
  const seeId = (itemId: string, path: string): void => {
    const prev = ids.get(itemId);
    if (prev) problems.push(`${path}/id "${itemId}" is also used by ${prev}`);
    else ids.set(itemId, path);
  };
  set.t2i.forEach((item, i) => {
    seeId(item.id, `/t2i/${i}`);
    const r = item.require.relation;
    const n = item.require.objects.length;
    if (r) {
      if (r.a >= n || r.b >= n)
        problems.push(`/t2i/${i}/require/relation: a and b must index require.objects (0..${n - 1})`);
      if (r.a === r.b) problems.push(`/t2i/${i}/require/relation: a and b must differ`);
    }
  });
  const checkScene = (scene: Scene, path: string): void => {
    try {
      validateScene(scene, path);
    } catch (e) {
      problems.push((e as Error).message);
    }
  };
  set.caption.forEach((item, i) => {
    seeId(item.id, `/caption/${i}`);
    checkScene(item.scene, `/caption/${i}/scene`);
  });
  set.vqa.forEach((item, i) => {
    seeId(item.id, `/vqa/${i}`);
    checkScene(item.scene, `/vqa/${i}/scene`);
  });
  if (problems.length) throw new EvalSetError(source, problems);
  for (const item of [...set.caption, ...set.vqa]) item.scene = validateScene(item.scene);
  return set;
}

/**
 * Soft checks of a valid set against the world's rules (not errors: a held-out set may phrase things
 * its own way): VQA questions outside the six forms, and answers that differ from the rules' answer.
 */
export function lintEvalSet(set: EvalSet): string[] {
  const notes: string[] = [];
  set.vqa.forEach((item, i) => {
    if (!parseQuestion(item.question)) {
      notes.push(`/vqa/${i} (${item.id}): question "${item.question}" is not one of the six forms`);
      return;
    }
    const expected = answerQuestion(item.scene, item.question);
    if (expected === undefined)
      notes.push(`/vqa/${i} (${item.id}): "${item.question}" has no single answer for its scene`);
    else if (expected !== item.answer.trim().toLowerCase()) {
      notes.push(`/vqa/${i} (${item.id}): answer "${item.answer}" but the rules give "${expected}"`);
    }
  });
  return notes;
}
