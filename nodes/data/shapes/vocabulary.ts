/**
 * Every word the generator can write, derived from the generator itself: each grammar slot enumerated
 * (captions, all question forms with all fillers, answers, prompts), plus a seeded sweep through the
 * samplers as a safety net.
 */
import { Rng } from './random';
import {
  FULL_DETAIL,
  fullCaption,
  joinList,
  nounPhrase,
  sampleCaption,
  whereCaption,
  relationCaption,
} from './captions';
import { captionPrompt, sampleInstruction, vqaPrompt } from './instructions';
import { ANSWER_NUMBERS, questionsFor, QUESTION_KINDS, questionsOfKind, WHERE_ANSWERS } from './questions';
import { RELATIONS } from './relations';
import { sampleScene } from './sampler';
import { COLORS, SHAPES, SIZES, type Scene, type SceneObject } from './world';
import { splitWords } from './words';

/** Texts that between them use every word of the grammar. */
export function enumeratedTexts(): string[] {
  const texts: string[] = [captionPrompt(), vqaPrompt('')];
  const objs: SceneObject[] = [];
  for (const shape of SHAPES) {
    for (const color of COLORS) {
      for (const size of SIZES) objs.push({ shape, color, size, x: 0.5, y: 0.5 });
    }
  }
  for (const o of objs) {
    for (let n = 1; n <= 4; n++) texts.push(nounPhrase(o, n, FULL_DETAIL));
    for (const x of [0.2, 0.5, 0.8]) {
      for (const y of [0.2, 0.5, 0.8]) texts.push(whereCaption({ ...o, x, y }, FULL_DETAIL));
    }
    for (const rel of RELATIONS) texts.push(relationCaption(o, rel, o, FULL_DETAIL));
  }
  texts.push(joinList(objs.slice(0, 3).map((o) => nounPhrase(o, 1, FULL_DETAIL))));
  // Every question form with every filler: scenes that make each one answerable.
  for (const shape of SHAPES) {
    for (const color of COLORS) {
      const scene: Scene = {
        background: 'black',
        objects: [{ shape, color, size: 'small', x: 0.2, y: 0.2 }],
      };
      for (const other of SHAPES) {
        if (other === shape) continue;
        scene.objects[1] = { shape: other, color, size: 'small', x: 0.8, y: 0.8 };
        for (const k of QUESTION_KINDS)
          for (const qa of questionsOfKind(scene, k, 0)) texts.push(qa.question);
      }
    }
  }
  texts.push(...ANSWER_NUMBERS.slice(1), ...WHERE_ANSWERS, 'yes', 'no', ...COLORS, ...SHAPES);
  return texts;
}

/** Texts drawn from the samplers (a fixed seed, so the sweep is the same every time). */
export function sampledTexts(seed = 1, scenes = 400): string[] {
  const rng = new Rng(seed, 'shapes-vocabulary');
  const texts: string[] = [];
  for (let i = 0; i < scenes; i++) {
    const { scene } = sampleScene(rng);
    texts.push(fullCaption(scene), sampleCaption(rng, scene).text);
    const ins = sampleInstruction(rng, scene);
    texts.push(ins.prompt, ins.answer);
    for (const qa of questionsFor(scene)) texts.push(qa.question, qa.answer);
  }
  return texts;
}

/** The sorted list of distinct words (lower-cased, punctuation split off) of the generator. */
export function generatorWords(): string[] {
  const words = new Set<string>();
  for (const t of [...enumeratedTexts(), ...sampledTexts()]) for (const w of splitWords(t)) words.add(w);
  return [...words].sort();
}
