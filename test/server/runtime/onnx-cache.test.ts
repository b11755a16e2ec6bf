import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { tf } from '../../../server/runtime/tf';
import { Linear } from '../../../server/runtime/nn';
import {
  cachedExport,
  cachedModuleHash,
  cacheLocation,
  moduleHash,
  weightsUnchanged,
} from '../../../server/runtime/onnx-cache';
import { OnnxGraph } from '../../../server/runtime/onnx-graph';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-cache-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function graphOf(lin: Linear): OnnxGraph {
  const g = new OnnxGraph('lin');
  const x = g.input('x', 'float32', ['B', lin.inFeatures]);
  const w = lin.weight.value.dataSync() as Float32Array;
  g.output('y', 'float32', ['B', lin.outFeatures], g.op('MatMul', [x, g.weight('w', w, lin.weight.shape)]));
  return g;
}

describe('ONNX export cache', () => {
  it('hashes weights and description: equal models agree, any change differs', () => {
    const a = new Linear(3, 2).initialize(1);
    const b = new Linear(3, 2).initialize(1);
    const c = new Linear(3, 2).initialize(2);
    expect(moduleHash(a, { k: 1 })).toBe(moduleHash(b, { k: 1 }));
    expect(moduleHash(a, { k: 1 })).not.toBe(moduleHash(a, { k: 2 }));
    expect(moduleHash(a, { k: 1 })).not.toBe(moduleHash(c, { k: 1 }));
  });

  it('remembers a hash until a weight is assigned new values', () => {
    const lin = new Linear(3, 2).initialize(1);
    const h1 = cachedModuleHash(lin, 'd');
    expect(weightsUnchanged(lin)).toBe(true);
    expect(cachedModuleHash(lin, 'd')).toBe(h1);
    const w = tf.ones([3, 2]);
    lin.weight.set(w);
    w.dispose();
    expect(weightsUnchanged(lin)).toBe(false);
    const h2 = cachedModuleHash(lin, 'd');
    expect(h2).not.toBe(h1);
    expect(h2).toBe(moduleHash(lin, 'd'));
  });

  it('exports once per hash; beside a checkpoint, a new export replaces the old one', () => {
    const source = path.join(dir, 'model.safetensors');
    fs.writeFileSync(source, '');
    const lin = new Linear(3, 2).initialize(1);
    let builds = 0;
    const build = () => {
      builds++;
      return graphOf(lin);
    };
    const first = cachedExport('lin', cachedModuleHash(lin, 'x'), build, { source });
    expect(first.exported).toBe(true);
    expect(path.dirname(first.file)).toBe(path.join(dir, '.model.safetensors.onnx'));
    expect(path.basename(first.file)).toMatch(/^lin-[0-9a-f]{16}\.onnx$/);
    const again = cachedExport('lin', cachedModuleHash(lin, 'x'), build, { source });
    expect(again).toEqual({ ...first, exported: false });
    expect(builds).toBe(1);
    const w = tf.randomNormal([3, 2]);
    lin.weight.set(w);
    w.dispose();
    const changed = cachedExport('lin', cachedModuleHash(lin, 'x'), build, { source });
    expect(changed.exported).toBe(true);
    expect(changed.file).not.toBe(first.file);
    expect(builds).toBe(2);
    expect(fs.existsSync(first.file)).toBe(false);
    expect(fs.readdirSync(path.dirname(first.file))).toEqual([path.basename(changed.file)]);
  });

  it('keeps the newest few exports of a kind in a shared cache folder', () => {
    const shared = path.join(dir, 'shared');
    const files: string[] = [];
    for (let s = 1; s <= 6; s++) {
      const lin = new Linear(2, 2).initialize(s);
      files.push(cachedExport('lin', moduleHash(lin, 's'), () => graphOf(lin), { cacheDir: shared }).file);
      const t = new Date(Date.now() - (10 - s) * 1000);
      fs.utimesSync(files[files.length - 1], t, t);
    }
    expect(fs.readdirSync(shared).sort()).toEqual(
      files
        .slice(2)
        .map((f) => path.basename(f))
        .sort(),
    );
  });

  it('finds its folder from the option, DDIT_ONNX_CACHE, the checkpoint, or the user cache', () => {
    const saved = process.env.DDIT_ONNX_CACHE;
    try {
      delete process.env.DDIT_ONNX_CACHE;
      expect(cacheLocation({ cacheDir: 'x', source: 'm.st' })).toEqual({
        dir: path.resolve('x'),
        private: false,
      });
      expect(cacheLocation({ source: 'm.st' })).toEqual({ dir: path.resolve('.m.st.onnx'), private: true });
      expect(cacheLocation({}).dir).toMatch(/ddit-studio[\\/]onnx$/);
      process.env.DDIT_ONNX_CACHE = 'envdir';
      expect(cacheLocation({ source: 'm.st' })).toEqual({ dir: path.resolve('envdir'), private: false });
    } finally {
      if (saved === undefined) delete process.env.DDIT_ONNX_CACHE;
      else process.env.DDIT_ONNX_CACHE = saved;
    }
  });
});
