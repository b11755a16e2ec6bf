/**
 * Deepening a trained D-DiT without changing what it computes: new joint blocks are inserted with the DiT
 * initialisation, whose zero adaLN modulation makes every gate zero, so each new block passes both streams
 * through unchanged until training moves it. The trained blocks keep their weights (and order); the text
 * encoder, VAE, tokenizer and the recorded training step are carried over, so a warm-started run continues
 * from the same function with more capacity.
 */
import * as fs from 'fs';
import * as path from 'path';
import { defineNode } from '../../server/engine/define-node';
import { initRuntime, tf } from '../../server/runtime';
import { T5Encoder } from '../text/t5';
import { ddItConfigOf, loadCheckpoint, saveCheckpoint, t5ConfigOf } from './checkpoint';
import { DDiT } from './model';

export const DEEPEN_PLACEMENTS = ['interleave', 'append'] as const;
export type DeepenPlacement = (typeof DEEPEN_PLACEMENTS)[number];

/**
 * Where each of `oldLayers` trained blocks goes in a model of `newLayers` blocks. 'append' keeps them first;
 * 'interleave' spreads them evenly (4 → 8: 0, 2, 4, 6), so every trained block is followed by new ones.
 */
export function trainedBlockPositions(
  oldLayers: number,
  newLayers: number,
  placement: DeepenPlacement,
): number[] {
  if (!Number.isInteger(oldLayers) || oldLayers < 1)
    throw new Error(`the model must have at least one block, got ${oldLayers}`);
  if (!Number.isInteger(newLayers) || newLayers <= oldLayers)
    throw new Error(`the deepened model needs more than ${oldLayers} blocks, got ${newLayers}`);
  const idx = Array.from({ length: oldLayers }, (_, i) => i);
  return placement === 'append' ? idx : idx.map((i) => Math.floor((i * newLayers) / oldLayers));
}

const BLOCK = /^transformer_blocks\.(\d+)\.(.+)$/;

/**
 * A copy of `model` with `addLayers` identity blocks inserted (seeded initialisation for their
 * attention and feed-forward weights). The returned model is new; `model` is left as it was.
 */
export function deepenTransformer(
  model: DDiT,
  addLayers: number,
  placement: DeepenPlacement,
  seed: number,
): DDiT {
  const L = model.config.num_layers;
  const positions = trainedBlockPositions(L, L + addLayers, placement);
  const deep = new DDiT({ ...ddItConfigOf(model.config), num_layers: L + addLayers }).initialize(seed);
  const state = model.state();
  const renamed = new Map<string, tf.Tensor>();
  for (const [name, t] of state) {
    const m = BLOCK.exec(name);
    renamed.set(m ? `transformer_blocks.${positions[Number(m[1])]}.${m[2]}` : name, t);
  }
  try {
    const report = deep.loadState(renamed, { strict: false });
    // only the new blocks may be left at their initial values
    const lost = report.missing.filter((n) => {
      const m = BLOCK.exec(n);
      return !m || positions.includes(Number(m[1]));
    });
    if (report.unexpected.length || lost.length) {
      throw new Error(
        `deepening lost weights (unexpected: ${report.unexpected.join(', ') || 'none'}; ` +
          `missing outside the new blocks: ${lost.join(', ') || 'none'})`,
      );
    }
  } catch (e) {
    deep.dispose();
    throw e;
  } finally {
    state.forEach((t) => t.dispose());
  }
  deep.trainedSteps = model.trainedSteps;
  return deep;
}

/**
 * A copy of the text encoder with the token-shift branch (T5Config.token_shift) in every block; the branch
 * starts at zero, so the copy encodes exactly as `enc` does. `enc` is left as it was.
 */
export function withTokenShift(enc: T5Encoder): T5Encoder {
  if (enc.config.token_shift) throw new Error('the text encoder has token shift already');
  const grown = new T5Encoder({ ...t5ConfigOf(enc.config), token_shift: true }).initialize(0);
  const state = enc.state();
  try {
    const report = grown.loadState(state, { strict: false });
    const lost = report.missing.filter((n) => !n.includes('.TokenShift.'));
    if (report.unexpected.length || lost.length) {
      throw new Error(
        `adding token shift lost encoder weights (unexpected: ${report.unexpected.join(', ') || 'none'}; ` +
          `missing: ${lost.join(', ') || 'none'})`,
      );
    }
  } catch (e) {
    grown.dispose();
    throw e;
  } finally {
    state.forEach((t) => t.dispose());
  }
  return grown;
}

export const DeepenCheckpoint = defineNode({
  type: 'DeepenCheckpoint',
  displayName: 'Deepen Checkpoint',
  category: 'training',
  description:
    'Writes a copy of a checkpoint whose D-DiT has more joint blocks: the trained blocks keep their weights and ' +
    'the new ones start as identities (zero adaLN gates), so the deeper model computes exactly what the old one ' +
    'did until training moves it. With text_token_shift the text encoder gains a zero-initialised branch that ' +
    "gives every word its neighbours' states (also an identity at first). Everything else (VAE, tokenizer, " +
    'the recorded training step) is kept, so a training workflow with warm_start continues from there. Does ' +
    'nothing when the output exists unless overwrite is on.',
  output: true,
  inputs: {
    input_file: { type: 'STRING', default: 'models/ddit-shapes.safetensors' },
    output_file: { type: 'STRING', default: 'models/ddit-shapes-deep.safetensors' },
    add_layers: {
      type: 'INT',
      default: 4,
      min: 0,
      max: 64,
      tooltip: 'joint blocks to add (0: keep the D-DiT as it is)',
    },
    placement: {
      type: 'COMBO',
      choices: [...DEEPEN_PLACEMENTS],
      default: 'interleave',
      tooltip: 'interleave: a new block after each trained one (spread evenly); append: new blocks last',
    },
    text_token_shift: {
      type: 'BOOLEAN',
      default: false,
      tooltip:
        "add the token-shift branch to every text-encoder block (each word sees its neighbours' states)",
    },
    seed: { type: 'INT', default: 0, min: 0, max: 2 ** 31 - 1 },
    overwrite: { type: 'BOOLEAN', default: false },
  },
  outputs: { file: { type: 'STRING' } },
  validate({ add_layers, text_token_shift }) {
    if (add_layers === 0 && !text_token_shift)
      return "nothing to add: set 'add_layers' above 0 or turn on 'text_token_shift'";
    return undefined;
  },
  async run(inp, ctx) {
    const src = path.resolve(inp.input_file);
    const out = path.resolve(inp.output_file);
    if (!fs.existsSync(src)) throw new Error(`input 'input_file': ${inp.input_file} does not exist`);
    if (src === out) throw new Error(`input 'output_file': must differ from input_file`);
    if (fs.existsSync(out) && !inp.overwrite) {
      ctx.ui({ text: [`${out} exists; kept`] });
      return { file: out };
    }
    await initRuntime();
    const ck = loadCheckpoint(src);
    const model = ck.transformer;
    let deep: DDiT | undefined;
    let encoder: T5Encoder | undefined;
    try {
      deep =
        inp.add_layers > 0
          ? deepenTransformer(model, inp.add_layers, inp.placement as DeepenPlacement, inp.seed)
          : undefined;
      if (inp.text_token_shift) {
        try {
          encoder = withTokenShift(ck.textEncoder);
        } catch (e) {
          throw new Error(`input 'text_token_shift': ${(e as Error).message}`);
        }
      }
      const step = model.trainedSteps;
      const L = model.config.num_layers;
      const blocks = deep ? `${L} → ${deep.config.num_layers} blocks (${inp.placement})` : `${L} blocks`;
      const what = `${blocks}${encoder ? ', text token shift' : ''}`;
      await saveCheckpoint(
        out,
        {
          transformer: deep ?? model,
          vae: ck.vae,
          textEncoder: encoder ?? ck.textEncoder,
          tokenizer: ck.tokenizer,
        },
        {
          metadata: {
            ...(step ? { ddit_step: String(step) } : {}),
            ddit_deepened_from: `${path.basename(src)}: ${what}`,
          },
        },
      );
      const params = (deep ?? model).numParams + (encoder ?? ck.textEncoder).numParams;
      ctx.ui({ text: [`${what}, ${(params / 1e6).toFixed(2)}M parameters → ${out}`] });
    } finally {
      deep?.dispose();
      encoder?.dispose();
      model.dispose();
      ck.vae.dispose();
      ck.textEncoder.dispose();
    }
    return { file: out };
  },
});
