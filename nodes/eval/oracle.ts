/**
 * Reference "models" built from the renderer, the judge and the world's rules, for testing the
 * evaluation end to end (an oracle scores 1.0) and for sanity checks of a new eval set. The oracle
 * sees only what a model sees: the prompt, or the image (which it reads with the judge).
 */
import { pick, Rng } from '../data/shapes/random';
import { fullCaption } from '../data/shapes/captions';
import { parseCaption } from '../data/shapes/parse-caption';
import { answerQuestion } from '../data/shapes/questions';
import { relationMargin, whereIs, whereIsClear } from '../data/shapes/relations';
import { renderScene, type RgbImage } from '../data/shapes/render';
import { placeObjects, RELATION_CLEARANCE } from '../data/shapes/sampler';
import { COLORS, HALF_SIDE, type Scene, type SceneObject, type Size } from '../data/shapes/world';
import { judgeImage, type FoundObject } from './judge';
import type { EvalModel } from './run-eval';

/** A scene that makes the text true (objects, colours, sizes, positions and relations it states). */
export function sceneFromText(text: string, rng: Rng): Scene {
  const parsed = parseCaption(text);
  const specs: Pick<SceneObject, 'shape' | 'color' | 'size'>[] = [];
  const groupOf: number[] = [];
  const total = parsed.groups.reduce((n, g) => n + g.count, 0);
  parsed.groups.forEach((g, gi) => {
    for (let k = 0; k < g.count && specs.length < 4; k++) {
      const size: Size = g.size ?? (total > 2 ? 'small' : pick(rng, ['small', 'large'] as const));
      specs.push({ shape: g.shape, color: g.color ?? pick(rng, COLORS), size });
      groupOf.push(gi);
    }
  });
  if (specs.length === 0) return { background: 'black', objects: [] };
  const objects = placeObjects(rng, specs, (objs) => {
    for (const r of parsed.relations) {
      for (let i = 0; i < objs.length; i++) {
        for (let j = 0; j < objs.length; j++) {
          if (
            groupOf[i] === r.a &&
            groupOf[j] === r.b &&
            relationMargin(objs[i], objs[j], r.rel) < RELATION_CLEARANCE
          ) {
            return false;
          }
        }
      }
    }
    return objs.every((o, i) => {
      const w = parsed.groups[groupOf[i]].where;
      return !w || (whereIs(o) === w && whereIsClear(o, RELATION_CLEARANCE));
    });
  });
  return { background: 'black', objects };
}

/** The judge's objects as a scene (positions clamped into the canvas). */
export function sceneFromFound(found: readonly FoundObject[]): Scene {
  return {
    background: 'black',
    objects: found.slice(0, 4).map((f) => {
      const h = HALF_SIDE[f.size];
      const clamp = (v: number): number => Math.min(1 - h, Math.max(h, v));
      return { shape: f.shape, color: f.color, size: f.size, x: clamp(f.x), y: clamp(f.y) };
    }),
  };
}

export interface OracleOptions {
  resolution?: number;
}

/** Draws what the prompt says, captions what the judge sees, answers by the rules from what the judge sees. */
export function oracleModel(
  options: OracleOptions = {},
): Required<Pick<EvalModel, 'name' | 'textToImage' | 'caption' | 'answer'>> {
  const width = options.resolution ?? 32;
  const read = (image: RgbImage): Scene => sceneFromFound(judgeImage(image));
  return {
    name: 'oracle',
    textToImage: (prompt, ctx) => renderScene(sceneFromText(prompt, new Rng(ctx.seed, 'oracle')), { width }),
    caption: (image) => {
      const scene = read(image);
      return scene.objects.length ? fullCaption(scene) : '';
    },
    answer: (image, question) => answerQuestion(read(image), question) ?? 'no',
  };
}
