/**
 * Test-only node types that hand the tiny real models to workflows (until model files are involved),
 * plus an output node that captures a value, so the sampling and training packs run through the real
 * engine.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { defineNode, Engine, loadBuiltinPacks, NodeRegistry, type EngineEvent } from '../../server/engine';
import { tf } from '../../server/runtime/tf';
import type { TinyModels } from './tiny-ddit';

export const captured = new Map<string, unknown>();
let models: TinyModels | null = null;

export function useTinyModels(m: TinyModels): void {
  models = m;
}

function need(): TinyModels {
  if (!models) throw new Error('test: call useTinyModels() first');
  return models;
}

export const TestTinyModels = defineNode({
  type: 'TestTinyModels',
  category: 'test',
  description: 'The tiny D-DiT, VAE, T5 encoder and tokenizer of the test.',
  inputs: {},
  outputs: {
    model: { type: 'DDIT_MODEL' },
    vae: { type: 'VAE' },
    text_encoder: { type: 'TEXT_ENCODER' },
    tokenizer: { type: 'TOKENIZER' },
  },
  run: () => {
    const m = need();
    // the engine must not free the shared test models when it evicts them
    const keep = <T extends object>(v: T): T =>
      new Proxy(v, { get: (t, k) => (k === 'dispose' ? () => {} : Reflect.get(t, k, t)) });
    return { model: keep(m.model), vae: keep(m.vae), text_encoder: keep(m.encoder), tokenizer: m.tokenizer };
  },
});

export const TestEncode = defineNode({
  type: 'TestEncode',
  category: 'test',
  description: 'Encodes a prompt padded with EOS to `length`: {embeds, ids}.',
  inputs: { text: { type: 'STRING', default: '' }, length: { type: 'INT', default: 8, min: 1 } },
  outputs: { conditioning: { type: 'CONDITIONING' } },
  run: ({ text, length }) => {
    const m = need();
    const ids = m.tokenizer.encodePadded(text, length);
    return { conditioning: { embeds: m.encoder.encode([ids]), ids: [ids] } };
  },
});

export const TestLatent = defineNode({
  type: 'TestLatent',
  category: 'test',
  description: 'A zero latent of the tiny model, or the VAE latent of a solid colour.',
  inputs: {
    batch: { type: 'INT', default: 1, min: 1 },
    color: { type: 'STRING', default: '' },
  },
  outputs: { latent: { type: 'LATENT' }, image: { type: 'IMAGE' } },
  run: ({ batch, color }) => {
    const m = need();
    const s = m.imageSize;
    const rgb = color ? color.split(',').map(Number) : [0, 0, 0];
    const image = tf.tidy(() => tf.mul(tf.ones([batch, s, s, 3]), tf.tensor1d(rgb)) as tf.Tensor4D);
    const samples = color
      ? (m.vae.encode(image, { mode: 'mean' }) as tf.Tensor4D)
      : (tf.zeros([batch, s / 2, s / 2, 4]) as tf.Tensor4D);
    return { latent: { samples }, image };
  },
});

export const TestCapture = defineNode({
  type: 'TestCapture',
  category: 'test',
  description: 'Stores its input under `key` for the test to read.',
  output: true,
  volatile: true,
  inputs: { value: { type: '*' }, key: { type: 'STRING', default: 'out' } },
  outputs: {},
  run: ({ value, key }) => {
    const v = value as { samples?: tf.Tensor } | undefined;
    captured.set(key, v?.samples instanceof tf.Tensor ? { samples: tf.clone(v.samples) } : value);
    return {};
  },
});

export const silentLog = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };

export function tinyEngine(extra: Parameters<NodeRegistry['registerAll']>[0] = []): {
  engine: Engine;
  folder: string;
} {
  const registry = new NodeRegistry();
  loadBuiltinPacks(registry);
  registry.registerAll([TestTinyModels, TestEncode, TestLatent, TestCapture, ...extra], 'test');
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-nodes-'));
  return {
    engine: new Engine({
      registry,
      folders: { output: folder, input: folder, temp: folder },
      log: silentLog,
    }),
    folder,
  };
}

export function eventsOf(events: EngineEvent[], type: string): Array<Record<string, unknown>> {
  return events.filter((e) => e.type === type).map((e) => e.data as Record<string, unknown>);
}
