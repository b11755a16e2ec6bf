/**
 * Training checkpoints: one safetensors file holding the live weights, the EMA, the optimiser moments
 * (and the mask-token row when it trains), with the step, random-generator state and data positions in
 * its JSON metadata. Written atomically (temp file, fsync, rename) so an interruption at any moment
 * leaves either the previous checkpoint or the new one, never a torn file. The synchronous writer is
 * what an interrupt handler uses: the process may exit right after it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { tf } from '../../server/runtime/tf';
import { loadSafetensors, saveSafetensorsBuffer } from '../../server/runtime/safetensors';
import type { RngState } from '../sampling/random';
import type { CursorState } from './batches';

export const CHECKPOINT_FORMAT = 'ddit-training-checkpoint';
export const CHECKPOINT_VERSION = 1;
export const CHECKPOINT_FILE = 'checkpoint.safetensors';
export const MODEL_FILE = 'model.safetensors';

export interface CheckpointMeta {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  step: number;
  /** momentsSince: the step the moments started from zero at (absent: 0, a run from scratch). */
  optimizer: { stepsTaken: number; momentsSince?: number };
  rng: RngState;
  cursors: Array<{ key: string } & CursorState>;
  /** What of the text encoder trains: 'frozen', 'mask_row' or 'all'. */
  textEncoder: string;
  /** Tensor name prefixes: 'model.' (PyTorch orientation, the model's own names), 'ema.', 'optim.m.', 'optim.v.' and 'text_encoder.' (tfjs orientation, by trained-parameter name). */
  layout: string;
  savedAt: string;
}

export interface Checkpoint {
  meta: CheckpointMeta;
  tensors: Record<string, tf.Tensor>;
}

export function writeFileAtomicSync(file: string, data: Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const fd = fs.openSync(tmp, 'wx');
  try {
    try {
      let done = 0;
      while (done < data.length) done += fs.writeSync(fd, data, done, data.length - done);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

export function saveCheckpointSync(
  file: string,
  tensors: Record<string, tf.Tensor>,
  meta: CheckpointMeta,
): void {
  const buf = saveSafetensorsBuffer(tensors, {
    metadata: { format: CHECKPOINT_FORMAT, ddit_training: JSON.stringify(meta) },
  });
  writeFileAtomicSync(file, buf);
}

export function readCheckpoint(file: string): Checkpoint {
  const { metadata, tensors } = loadSafetensors(file);
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(metadata.ddit_training ?? 'null') as CheckpointMeta;
  } catch {
    meta = null as unknown as CheckpointMeta;
  }
  if (!meta || meta.format !== CHECKPOINT_FORMAT) {
    for (const t of Object.values(tensors)) t.dispose();
    throw new Error(`${file} is not a D-DiT training checkpoint`);
  }
  if (meta.version > CHECKPOINT_VERSION) {
    for (const t of Object.values(tensors)) t.dispose();
    throw new Error(
      `${file}: checkpoint version ${meta.version} is newer than this build reads (${CHECKPOINT_VERSION})`,
    );
  }
  return { meta, tensors };
}

/** Tensors under `prefix`, with the prefix removed. */
export function withPrefix(tensors: Record<string, tf.Tensor>, prefix: string): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  for (const [k, t] of Object.entries(tensors)) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), t);
  return out;
}
