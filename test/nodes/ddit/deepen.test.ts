/**
 * Deepening a D-DiT: where the trained blocks go, that the deeper model computes exactly what the trained
 * one did (both heads), and DeepenCheckpoint through the real engine (file, kept step, errors naming inputs).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Engine, loadBuiltinPacks, NodeRegistry, type ApiPrompt } from '../../../server/engine';
import { initRuntime, tf } from '../../../server/runtime';
import { inspectCheckpoint, loadCheckpoint, saveCheckpoint } from '../../../nodes/ddit/checkpoint';
import { deepenTransformer, trainedBlockPositions } from '../../../nodes/ddit/deepen';
import type { DDiT } from '../../../nodes/ddit/model';
import { tinyModels, type TinyModels } from '../../helpers/tiny-ddit';

const silent = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };

/** Random values in every parameter, so no block is an identity (a fresh model's zero gates would be). */
function scramble(model: DDiT, seed: number): void {
  model.namedParameters().forEach(([, p], i) => {
    const t = tf.randomNormal(p.shape, 0, 0.2, 'float32', seed + i);
    p.set(t);
    t.dispose();
  });
}

function outputs(model: DDiT, z: tf.Tensor4D, enc: tf.Tensor3D): { v: Float32Array; l: Float32Array } {
  const o = model.forward(z, 700, enc, {});
  const r = { v: o.velocity!.dataSync() as Float32Array, l: o.logits!.dataSync() as Float32Array };
  tf.dispose([o.velocity!, o.logits!]);
  return r;
}

let tiny: TinyModels;

beforeAll(async () => {
  await initRuntime({ backend: 'cpu' });
  tiny = tinyModels(4, { layers: 2 });
  scramble(tiny.model, 100);
  tiny.model.trainedSteps = 1234;
});

afterAll(() => tiny.dispose());

describe('trainedBlockPositions', () => {
  test('interleave spreads the trained blocks evenly; append keeps them first', () => {
    expect(trainedBlockPositions(4, 8, 'interleave')).toEqual([0, 2, 4, 6]);
    expect(trainedBlockPositions(4, 6, 'interleave')).toEqual([0, 1, 3, 4]);
    expect(trainedBlockPositions(4, 6, 'append')).toEqual([0, 1, 2, 3]);
  });

  test('a model can only grow', () => {
    expect(() => trainedBlockPositions(4, 4, 'append')).toThrow(/needs more than 4 blocks, got 4/);
  });
});

describe('deepenTransformer', () => {
  test.each(['interleave', 'append'] as const)(
    '%s: the deeper model gives the same velocity and logits, and keeps the trained step',
    (placement) => {
      const z = tf.randomNormal([2, 4, 4, 4], 0, 1, 'float32', 1) as tf.Tensor4D;
      const enc = tf.randomNormal([2, 5, 16], 0, 1, 'float32', 2) as tf.Tensor3D;
      const deep = deepenTransformer(tiny.model, 3, placement, 7);
      try {
        expect(deep.config.num_layers).toBe(5);
        expect(deep.trainedSteps).toBe(1234);
        const before = outputs(tiny.model, z, enc);
        const after = outputs(deep, z, enc);
        // a real velocity, not zeros, so the comparison means something
        expect(Math.max(...before.v.map(Math.abs))).toBeGreaterThan(0.1);
        for (let i = 0; i < before.v.length; i++) expect(after.v[i]).toBeCloseTo(before.v[i], 4);
        for (let i = 0; i < before.l.length; i++) expect(after.l[i]).toBeCloseTo(before.l[i], 4);
        // the new blocks have trainable attention and feed-forward weights (not zeros): only the gates are
        const newBlock = placement === 'append' ? 4 : 1;
        const names = new Map(deep.namedParameters());
        const q = names.get(`transformer_blocks.${newBlock}.attn.to_q.weight`)!.value;
        expect(tf.max(tf.abs(q)).dataSync()[0]).toBeGreaterThan(0);
        const gates = names.get(`transformer_blocks.${newBlock}.norm1.linear.weight`)!.value;
        expect(tf.max(tf.abs(gates)).dataSync()[0]).toBe(0);
      } finally {
        deep.dispose();
        tf.dispose([z, enc]);
      }
    },
  );
});

describe('DeepenCheckpoint', () => {
  let root: string;
  let engine: Engine;
  let src: string;

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-deepen-'));
    src = path.join(root, 'trained.safetensors');
    await saveCheckpoint(
      src,
      { transformer: tiny.model, vae: tiny.vae, textEncoder: tiny.encoder, tokenizer: tiny.tokenizer },
      { metadata: { ddit_step: '1234' } },
    );
    const registry = new NodeRegistry();
    loadBuiltinPacks(registry);
    engine = new Engine({
      registry,
      folders: { models: root, input: root, output: root, temp: root },
      log: silent,
    });
  });

  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  const prompt = (inputs: Record<string, unknown>): ApiPrompt => ({
    '1': {
      class_type: 'DeepenCheckpoint',
      inputs: {
        input_file: src,
        output_file: path.join(root, 'deep.safetensors'),
        add_layers: 2,
        placement: 'interleave',
        text_token_shift: false,
        seed: 0,
        overwrite: false,
        ...inputs,
      },
    },
  });

  test('writes a full checkpoint with more blocks, the same encoder, VAE and tokenizer, and the step', async () => {
    const r = await engine.execute(prompt({}));
    expect(r.status).toBe('success');
    const file = path.join(root, 'deep.safetensors');
    const info = inspectCheckpoint(file);
    expect(info.metadata.ddit_step).toBe('1234');
    expect(info.metadata.ddit_deepened_from).toBe('trained.safetensors: 2 → 4 blocks (interleave)');
    const ck = loadCheckpoint(file);
    try {
      expect(ck.transformer.config.num_layers).toBe(4);
      expect(ck.transformer.trainedSteps).toBe(1234);
      expect(ck.tokenizer.json).toBe(tiny.tokenizer.json);
      const given = tiny.encoder.state();
      const written = ck.textEncoder.state();
      for (const [name, t] of given)
        expect(Array.from(written.get(name)!.dataSync())).toEqual(Array.from(t.dataSync()));
      tf.dispose([...given.values(), ...written.values()]);
    } finally {
      ck.transformer.dispose();
      ck.vae.dispose();
      ck.textEncoder.dispose();
    }
  });

  const shifted = path.join(os.tmpdir(), `ddit-shifted-${process.pid}.safetensors`);
  afterAll(() => fs.rmSync(shifted, { force: true }));

  test('text_token_shift alone: the same D-DiT, an encoder that encodes exactly as before', async () => {
    const r = await engine.execute(prompt({ add_layers: 0, text_token_shift: true, output_file: shifted }));
    expect(r.status).toBe('success');
    const info = inspectCheckpoint(shifted);
    expect(info.metadata.ddit_deepened_from).toBe('trained.safetensors: 2 blocks, text token shift');
    const ck = loadCheckpoint(shifted);
    try {
      expect(ck.transformer.config.num_layers).toBe(2);
      expect(ck.textEncoder.config.token_shift).toBe(true);
      const ids = [[3, 1, 4, 1, 5, 2]];
      const before = tiny.encoder.encode(ids);
      const after = ck.textEncoder.encode(ids);
      expect(Array.from(after.dataSync())).toEqual(Array.from(before.dataSync()));
      tf.dispose([before, after]);
    } finally {
      ck.transformer.dispose();
      ck.vae.dispose();
      ck.textEncoder.dispose();
    }
  });

  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [
      { input_file: path.join(os.tmpdir(), 'no-such-model.safetensors') },
      /input 'input_file': .* does not exist/,
    ],
    [{ output_file: 'SRC' }, /input 'output_file': must differ from input_file/],
    [{ add_layers: 0 }, /nothing to add: set 'add_layers' above 0 or turn on 'text_token_shift'/],
    [
      { input_file: 'SHIFTED', output_file: 'OUT2', add_layers: 0, text_token_shift: true },
      /input 'text_token_shift': the text encoder has token shift already/,
    ],
  ];
  test.each(bad)('bad input %# fails the node with a message naming it', async (inputs, message) => {
    // 'SRC' stands for the input file, which exists only once beforeAll has run
    const out = inputs.output_file === 'SRC' ? { output_file: src } : {};
    const files =
      inputs.input_file === 'SHIFTED'
        ? { input_file: shifted, output_file: path.join(root, 'again.safetensors') }
        : {};
    const r = await engine.execute(prompt({ ...inputs, ...out, ...files }));
    expect(r.status).toBe('error');
    expect(r.error?.message).toMatch(message);
    expect(r.error).toMatchObject({ nodeId: '1', classType: 'DeepenCheckpoint' });
  });
});
