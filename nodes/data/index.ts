/**
 * The data pack: the shapes world as nodes. A scene drawn from a seed (image, scene JSON, caption), any
 * scene JSON rendered, and a virtual data set of rendered scenes with captions or instructions for training.
 */
import { defineNode } from '../../server/engine/define-node';
import type { AnyNodeDefinition } from '../../server/engine/types';
import { IMAGE, runtime, type Tensor4D } from '../../server/plugins/api';
import { fullCaption, sampleCaption } from './shapes/captions';
import { DATASET_TASKS, parseQuestionKinds, ShapesDataset, type DatasetTask } from './shapes/dataset';
import { CAPTION_SHARE } from './shapes/instructions';
import { Rng } from './shapes/random';
import { renderScene, type RgbImage } from './shapes/render';
import { parseSceneMix, SCENE_KINDS, sampleScene, type SceneKind } from './shapes/sampler';
import { validateScene, type Scene } from './shapes/world';

const resolution = {
  type: 'INT',
  default: 32,
  min: 32,
  max: 1024,
  tooltip: 'Width and height of the rendered image in pixels',
} as const;

/** RGB images of one size as an IMAGE tensor [B, H, W, 3]. */
function toImageTensor(images: RgbImage[]): Tensor4D {
  const { tf } = runtime();
  const { width, height } = images[0];
  const data = new Float32Array(images.length * width * height * 3);
  images.forEach((img, i) => data.set(img.data, i * width * height * 3));
  return tf.tensor4d(data, [images.length, height, width, 3]);
}

export const ShapesScene = defineNode({
  type: 'ShapesScene',
  displayName: 'Shapes Scene',
  category: 'data/shapes',
  description:
    'Draws a random scene of the shapes world from a seed: the rendered image, the scene as JSON and a caption ' +
    '(the full caption, or one at a random level of detail as in training).',
  inputs: {
    seed: { type: 'INT', default: 0, min: 0, max: 2 ** 53 - 1, control: 'randomize' },
    kind: {
      type: 'COMBO',
      choices: ['mix', ...SCENE_KINDS],
      default: 'mix',
      tooltip: 'Kind of scene; "mix" draws one with the training mix',
    },
    caption: { type: 'COMBO', choices: ['full', 'random'], default: 'full' },
    resolution,
  },
  outputs: {
    image: IMAGE.output(),
    scene: { type: 'STRING', tooltip: 'The scene as JSON (feeds RenderScene)' },
    caption: { type: 'STRING' },
  },
  run({ seed, kind, caption, resolution: width }) {
    const { scene } = sampleScene(
      new Rng(seed, 'shapes-scene'),
      kind === 'mix' ? undefined : (kind as SceneKind),
    );
    const text =
      caption === 'random' ? sampleCaption(new Rng(seed, 'shapes-caption'), scene).text : fullCaption(scene);
    return {
      image: toImageTensor([renderScene(scene, { width })]),
      scene: JSON.stringify(scene),
      caption: text,
    };
  },
});

const EXAMPLE_SCENE: Scene = {
  background: 'black',
  objects: [
    { shape: 'circle', color: 'red', size: 'large', x: 0.3, y: 0.5 },
    { shape: 'square', color: 'blue', size: 'small', x: 0.75, y: 0.4 },
  ],
};

/** Parses the scene input: one scene, or a list of scenes for a batch. */
export function parseScenes(text: string): Scene[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`input 'scene': not valid JSON (${(e as Error).message})`);
  }
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw new Error("input 'scene': the list of scenes is empty");
  return list.map((s, i) => {
    try {
      return validateScene(s, Array.isArray(value) ? `scene[${i}]` : 'scene');
    } catch (e) {
      throw new Error(`input 'scene': ${(e as Error).message}`);
    }
  });
}

export const RenderScene = defineNode({
  type: 'RenderScene',
  displayName: 'Render Scene',
  category: 'data/shapes',
  description:
    'Renders a shapes-world scene given as JSON ({"background": "black", "objects": [{"shape", "color", "size", ' +
    '"x", "y"}]}, or a list of scenes for a batch), anti-aliased.',
  inputs: {
    scene: { type: 'STRING', multiline: true, default: JSON.stringify(EXAMPLE_SCENE, null, 1) },
    resolution,
  },
  outputs: { image: IMAGE.output() },
  validate({ scene }) {
    if (typeof scene !== 'string') return undefined;
    try {
      parseScenes(scene);
    } catch (e) {
      return (e as Error).message;
    }
    return undefined;
  },
  run({ scene, resolution: width }) {
    return { image: toImageTensor(parseScenes(scene).map((s) => renderScene(s, { width }))) };
  },
});

export const ShapesDatasetNode = defineNode({
  type: 'ShapesDataset',
  displayName: 'Shapes Dataset',
  category: 'data/shapes',
  description:
    'A virtual data set of shapes-world scenes: item i is drawn from (seed, i) and rendered when read. ' +
    '"caption" items pair an image with a caption at a random level of detail (text-to-image training); ' +
    '"instruction" items pair it with a question or "describe the image." and the answer (captioning and VQA).',
  inputs: {
    seed: { type: 'INT', default: 0, min: 0, max: 2 ** 53 - 1 },
    size: { type: 'INT', default: 12000, min: 1, max: 10_000_000 },
    task: { type: 'COMBO', choices: DATASET_TASKS, default: 'caption' },
    resolution,
    caption_share: {
      type: 'FLOAT',
      default: CAPTION_SHARE,
      min: 0,
      max: 1,
      step: 0.05,
      tooltip: 'instruction task: the share of "describe the image." items; the rest are questions',
    },
    question_kinds: {
      type: 'STRING',
      default: '',
      placeholder: 'all: what_color, what_shape, how_many, is_there, where, relation',
      tooltip:
        'instruction task: the question kinds asked, comma-separated (empty: all six, each about a sixth of the questions)',
    },
    hard_negatives: {
      type: 'FLOAT',
      default: 1,
      min: 0,
      max: 1,
      step: 0.05,
      tooltip:
        'instruction task: the share of "is there a {color} {shape}?" questions answered "no" that ask about a colour ' +
        'or shape the scene has on another object (hard); the rest ask about any absent pair',
    },
    caption_questions: {
      type: 'FLOAT',
      default: 0,
      min: 0,
      max: 1,
      step: 0.05,
      tooltip:
        'instruction task: the share of items that ask a question about a caption written in the prompt ' +
        '("a red circle left of a white triangle. what shape is the red object?") on a blank canvas, so the ' +
        'answer must be read from the text; such prompts need text_length 48',
    },
    scene_mix: {
      type: 'STRING',
      default: '',
      placeholder: 'single 0.28, pair 0.17, relation 0.17, counting 0.26, crowd 0.12',
      tooltip:
        'weights of the scene kinds, comma-separated (kinds not named weigh 0; empty: the recipe mix above)',
    },
    distinct_pairs: {
      type: 'BOOLEAN',
      default: false,
      tooltip:
        'random pairs always hold two different shapes (otherwise one shape twice a third of the time)',
    },
  },
  outputs: { dataset: { type: 'DATASET' } },
  validate({ question_kinds, scene_mix }) {
    const checks: [string, unknown, (text: string) => unknown][] = [
      ['question_kinds', question_kinds, parseQuestionKinds],
      ['scene_mix', scene_mix, parseSceneMix],
    ];
    for (const [name, value, parse] of checks) {
      if (typeof value !== 'string') continue;
      try {
        parse(value);
      } catch (e) {
        return `input '${name}': ${(e as Error).message}`;
      }
    }
    return undefined;
  },
  run({
    seed,
    size,
    task,
    resolution: width,
    caption_share,
    question_kinds,
    hard_negatives,
    caption_questions,
    scene_mix,
    distinct_pairs,
  }) {
    return {
      dataset: new ShapesDataset({
        seed,
        size,
        task: task as DatasetTask,
        resolution: width,
        captionShare: caption_share,
        questionKinds: parseQuestionKinds(question_kinds),
        hardNegatives: hard_negatives,
        captionQuestions: caption_questions,
        sceneMix: parseSceneMix(scene_mix),
        distinctPairs: distinct_pairs,
      }),
    };
  },
});

export const nodes: AnyNodeDefinition[] = [ShapesScene, RenderScene, ShapesDatasetNode];
