import { tf } from '../../../../server/runtime';
import { Conv2d, Linear } from '../../../../server/runtime/nn/layers';
import { Module, type Parameter } from '../../../../server/runtime/nn/module';
import { maxAbsDiff, randn, useBackend } from '../../../helpers/gradcheck';

class Block extends Module {
  readonly proj: Linear;
  readonly conv: Conv2d;
  readonly table: Parameter;
  constructor() {
    super();
    this.proj = this.module('proj', new Linear(3, 2));
    this.conv = this.module('conv', new Conv2d(2, 4, 3));
    this.table = this.buffer('table', { shape: [2, 2], init: () => tf.tensor2d([1, 2, 3, 4], [2, 2]) });
  }
}

class Net extends Module {
  readonly blocks = [new Block(), new Block()];
  readonly emb: Parameter;
  constructor() {
    super();
    this.blocks.forEach((b, i) => this.module(`blocks.${i}`, b));
    this.emb = this.param('emb', { shape: [5, 3], init: (s, l) => randn([5, 3], s + l.length) });
    this.aliases.set('old_emb', 'emb');
  }
}

beforeAll(async () => {
  await useBackend('cpu');
});

describe('Module', () => {
  test('full dotted names, parameters vs buffers, counts and bytes', () => {
    const n = new Net();
    const names = n.namedEntries().map(([k]) => k);
    expect(names).toEqual([
      'emb',
      'blocks.0.table',
      'blocks.0.proj.weight',
      'blocks.0.proj.bias',
      'blocks.0.conv.weight',
      'blocks.0.conv.bias',
      'blocks.1.table',
      'blocks.1.proj.weight',
      'blocks.1.proj.bias',
      'blocks.1.conv.weight',
      'blocks.1.conv.bias',
    ]);
    expect(n.namedParameters().map(([k]) => k)).not.toContain('blocks.0.table');
    expect(n.numParams).toBe(15 + 2 * (6 + 2 + 72 + 4));
    expect(n.byteSize).toBe(0);
    n.initialize(1);
    expect(n.byteSize).toBe(4 * (n.numParams + 8));
    n.dispose();
  });

  test('initialize is deterministic per seed and independent of other parameters', () => {
    const a = new Net().initialize(5);
    const b = new Net().initialize(5);
    const c = new Net().initialize(6);
    expect(maxAbsDiff(a.blocks[1].conv.weight.value, b.blocks[1].conv.weight.value)).toBe(0);
    expect(maxAbsDiff(a.blocks[1].conv.weight.value, c.blocks[1].conv.weight.value)).toBeGreaterThan(0);
    // streams are per name: two blocks of the same shape differ
    expect(maxAbsDiff(a.blocks[0].conv.weight.value, a.blocks[1].conv.weight.value)).toBeGreaterThan(0);
    [a, b, c].forEach((m) => m.dispose());
  });

  test('state() is in PyTorch orientation and loadState() round-trips', () => {
    const a = new Net().initialize(3);
    const st = a.state();
    expect(st.get('blocks.0.proj.weight')!.shape).toEqual([2, 3]);
    expect(st.get('blocks.0.conv.weight')!.shape).toEqual([4, 2, 3, 3]);
    expect(maxAbsDiff(st.get('blocks.0.proj.weight')!, tf.transpose(a.blocks[0].proj.weight.value))).toBe(0);
    // (out, in, kh, kw)[o, i, y, x] == HWIO[y, x, i, o]
    const w = a.blocks[0].conv.weight.value.arraySync() as number[][][][];
    const t = st.get('blocks.0.conv.weight')!.arraySync() as number[][][][];
    expect(t[3][1][2][0]).toBe(w[2][0][1][3]);
    const b = new Net();
    const rep = b.loadState(st);
    expect(rep.missing).toEqual([]);
    expect(rep.unexpected).toEqual([]);
    for (const [k, p] of a.namedEntries()) {
      const q = b.namedEntries().find(([n]) => n === k)![1];
      expect(maxAbsDiff(p.value, q.value)).toBe(0);
    }
    st.forEach((x) => x.dispose());
    a.dispose();
    b.dispose();
  });

  test('loadState: prefix, aliases, missing buffers recomputed, strict errors', () => {
    const a = new Net().initialize(3);
    const st = a.state('model.');
    st.delete('model.blocks.0.table');
    st.set('model.old_emb', st.get('model.emb')!);
    st.delete('model.emb');
    st.set('other.thing', tf.zeros([1]));
    const b = new Net();
    b.loadState(st, { prefix: 'model.' });
    expect(Array.from(b.blocks[0].table.value.dataSync())).toEqual([1, 2, 3, 4]);
    expect(maxAbsDiff(a.emb.value, b.emb.value)).toBe(0);
    st.set('model.extra', tf.zeros([1]));
    expect(() => new Net().loadState(st, { prefix: 'model.' })).toThrow(/unexpected model\.extra/);
    st.delete('model.extra');
    st.delete('model.blocks.1.proj.bias');
    expect(() => new Net().loadState(st, { prefix: 'model.' })).toThrow(/missing blocks\.1\.proj\.bias/);
    const c = new Net();
    expect(c.loadState(st, { prefix: 'model.', strict: false }).missing).toEqual(['blocks.1.proj.bias']);
    st.set('model.blocks.1.proj.bias', tf.zeros([3]));
    expect(() => new Net().loadState(st, { prefix: 'model.' })).toThrow(/shape \[3\].*\[2\]/);
    [a, b, c].forEach((m) => m.dispose());
  });

  test('trainable flags reach the variables; buffers are never trainable', () => {
    const a = new Net().initialize(1);
    expect(a.trainableVariables().length).toBe(9);
    a.blocks[0].setTrainable(false);
    expect(a.trainableVariables().length).toBe(5);
    expect(a.blocks[0].proj.weight.value.trainable).toBe(false);
    a.blocks[0].table.trainable = true;
    expect(a.blocks[0].table.trainable).toBe(false);
    a.dispose();
  });

  test('dispose frees every tensor it made', () => {
    const before = tf.memory().numTensors;
    const a = new Net().initialize(2);
    const st = a.state();
    a.loadState(st);
    st.forEach((x) => x.dispose());
    a.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
