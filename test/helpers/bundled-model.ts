/**
 * The bundled checkpoint (models/ddit-shapes.safetensors) for tests that run the real model: loaded before a
 * file's tests with the ONNX cache in a temporary folder, freed after them. Scene builders for the shapes world.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createEngine, type Engine } from '../../server/engine';
import { initRuntime } from '../../server/runtime';
import { loadCheckpoint, type LoadedCheckpoint } from '../../nodes/ddit/checkpoint';
import type { Scene, SceneObject } from '../../nodes/data/shapes/world';
import { silentLog } from './tiny-nodes';

export const MODELS = path.resolve(__dirname, '..', '..', 'models');

export interface BundledCheckpoint {
  /** The loaded checkpoint (inside tests only). */
  readonly ck: LoadedCheckpoint;
  /** A temporary folder of this file's. */
  readonly tmp: string;
  /** An engine over the bundled models, with input and output folders in tmp. */
  engine(): Engine;
}

export function useBundledCheckpoint(prefix: string): BundledCheckpoint {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const savedCache = process.env.DDIT_ONNX_CACHE;
  let ck: LoadedCheckpoint | undefined;
  beforeAll(async () => {
    process.env.DDIT_ONNX_CACHE = path.join(tmp, 'onnx');
    await initRuntime();
    ck = loadCheckpoint(path.join(MODELS, 'ddit-shapes.safetensors'));
  });
  afterAll(() => {
    if (savedCache === undefined) delete process.env.DDIT_ONNX_CACHE;
    else process.env.DDIT_ONNX_CACHE = savedCache;
    ck?.transformer.dispose();
    ck?.vae.dispose();
    ck?.textEncoder.dispose();
  });
  return {
    get ck() {
      if (!ck) throw new Error('the bundled checkpoint is loaded in beforeAll; use it inside tests');
      return ck;
    },
    tmp,
    engine: () =>
      createEngine({
        folders: { models: MODELS, input: path.join(tmp, 'in'), output: path.join(tmp, 'out') },
        log: silentLog,
      }),
  };
}

/** A large object of the shapes world at (x, y). */
export const shapeObject = (
  shape: SceneObject['shape'],
  color: SceneObject['color'],
  x: number,
  y = 0.5,
): SceneObject => ({ shape, color, size: 'large', x, y });

export const sceneOf = (...objects: SceneObject[]): Scene => ({ background: 'black', objects });

/** The model, text encoder, tokenizer and VAE inputs of a node, linked to the LoadCheckpoint node `id`. */
export const checkpointLinks = (id: string) =>
  ({ model: [id, 0], text_encoder: [id, 2], tokenizer: [id, 3], vae: [id, 1] }) as const;
