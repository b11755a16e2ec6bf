import { NodeRegistry, loadBuiltinPacks, Engine, defineNode } from '../../../server/engine';
import type { EngineEvent } from '../../../server/engine';
import * as os from 'os';
import * as path from 'path';
import * as fs from 'fs';

/** Real node types used by the engine tests alongside the core pack. */
export const TestTensorLike = defineNode({
  type: 'TestBlob',
  category: 'test',
  description: 'Produces a disposable object of a given size, to exercise cache sizing and freeing.',
  inputs: { bytes: { type: 'INT', default: 1000, min: 0 }, tag: { type: 'STRING', default: '' } },
  outputs: { blob: { type: 'BLOB' } },
  run: ({ bytes, tag }) => ({ blob: new Blob_(bytes, tag) }),
});

export class Blob_ {
  static live = 0;
  disposed = false;
  constructor(
    readonly byteSize: number,
    readonly tag: string,
  ) {
    Blob_.live++;
  }
  dispose(): void {
    if (!this.disposed) Blob_.live--;
    this.disposed = true;
  }
}

export const BlobSize = defineNode({
  type: 'TestBlobSize',
  category: 'test',
  description: 'Reads a blob; fails if it was freed while still in use.',
  output: true,
  inputs: { blob: { type: 'BLOB' } },
  outputs: { size: { type: 'INT' } },
  run: ({ blob }, ctx) => {
    const b = blob as Blob_;
    if (b.disposed) throw new Error('blob used after dispose');
    ctx.ui({ size: [b.byteSize] });
    return { size: b.byteSize };
  },
});

export function makeEngine(extra: Parameters<NodeRegistry['registerAll']>[0] = []): Engine {
  const registry = new NodeRegistry();
  loadBuiltinPacks(registry);
  registry.registerAll([TestTensorLike, BlobSize, ...extra], 'test');
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-engine-test-'));
  return new Engine({ registry, folders: { output: out, input: out, temp: out }, log: silentLog });
}

export const silentLog = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };

export function collect(): {
  events: EngineEvent[];
  onEvent: (e: EngineEvent) => void;
  types: () => string[];
} {
  const events: EngineEvent[] = [];
  return { events, onEvent: (e) => events.push(e), types: () => events.map((e) => e.type) };
}
