import { createEngine, toObjectInfo } from '../../server/engine';
import {
  categoryTree,
  clampWidgetNumber,
  interpretNodeDef,
  nextControlValue,
  searchNodes,
  widgetSocketType,
} from '../../web/src/node-defs';
import type { ObjectInfo } from '../../web/src/protocol';

const engine = createEngine();
const specs = engine.registry.list().map((d) => interpretNodeDef(toObjectInfo(d) as unknown as ObjectInfo));
const spec = (type: string) => specs.find((s) => s.type === type)!;

describe('object_info → node spec', () => {
  test('the server’s own definitions: widgets with limits, sockets, outputs', () => {
    const math = spec('IntMath');
    expect(math.widgets.map((w) => [w.name, w.kind])).toEqual([
      ['a', 'INT'],
      ['b', 'INT'],
      ['op', 'COMBO'],
    ]);
    expect(math.widgets[2].choices).toContain('multiply');
    expect(math.outputs).toEqual([{ name: 'value', type: 'INT', tooltip: undefined }]);
    const show = spec('ShowText');
    expect(show.outputNode).toBe(true);
    // forceInput turns a STRING into a plain socket
    expect(show.sockets).toEqual([{ name: 'text', type: 'STRING', optional: false, tooltip: undefined }]);
    expect(show.widgets).toEqual([]);
    const delay = spec('Delay');
    expect(delay.sockets[0]).toMatchObject({ name: 'value', type: '*', optional: true });
    expect(delay.widgets[0]).toMatchObject({ name: 'milliseconds', min: 0, max: 3_600_000, default: 1000 });
  });

  test('ComfyUI shapes: combo lists, V3 COMBO options, seed control, multiline, labels', () => {
    const info: ObjectInfo = {
      name: 'KSampler',
      display_name: 'K Sampler',
      category: 'sampling',
      output: ['LATENT'],
      output_name: ['LATENT'],
      input: {
        required: {
          model: ['MODEL'],
          seed: ['INT', { default: 5, min: 0, max: 100, control_after_generate: 'randomize' }],
          cfg: ['FLOAT', { default: 7, min: 0, max: 30, step: 0.5, round: 0.01 }],
          sampler: [['euler', 'heun'], { default: 'heun' }],
          scheduler: ['COMBO', { options: ['normal', 'karras'] }],
          text: ['STRING', { multiline: true, placeholder: 'prompt' }],
          flip: ['BOOLEAN', { default: true, label_on: 'yes', label_off: 'no' }],
        },
        optional: { mask: ['MASK'] },
      },
      input_order: { required: ['model', 'text', 'seed', 'cfg', 'sampler', 'scheduler', 'flip'] },
    };
    const s = interpretNodeDef(info);
    expect(s.title).toBe('K Sampler');
    expect(s.sockets.map((x) => [x.name, x.type, x.optional])).toEqual([
      ['model', 'MODEL', false],
      ['mask', 'MASK', true],
    ]);
    expect(s.widgets.map((w) => w.name)).toEqual(['text', 'seed', 'cfg', 'sampler', 'scheduler', 'flip']);
    const byName = Object.fromEntries(s.widgets.map((w) => [w.name, w]));
    expect(byName.seed).toMatchObject({ kind: 'INT', control: 'randomize', default: 5, min: 0, max: 100 });
    expect(byName.cfg).toMatchObject({ kind: 'FLOAT', step: 0.5, round: 0.01 });
    expect(byName.sampler).toMatchObject({ kind: 'COMBO', choices: ['euler', 'heun'], default: 'heun' });
    expect(byName.scheduler).toMatchObject({
      kind: 'COMBO',
      choices: ['normal', 'karras'],
      default: 'normal',
    });
    expect(byName.text).toMatchObject({
      kind: 'STRING',
      multiline: true,
      placeholder: 'prompt',
      default: '',
    });
    expect(byName.flip).toMatchObject({ kind: 'BOOLEAN', default: true, labelOn: 'yes', labelOff: 'no' });
    expect(widgetSocketType(byName.sampler)).toBe('COMBO,STRING');
    expect(widgetSocketType(byName.seed)).toBe('INT');
  });

  test('our server marks a fixed control as true', () => {
    const s = interpretNodeDef({
      name: 'N',
      output: [],
      input: { required: { seed: ['INT', { control_after_generate: true }] } },
    });
    expect(s.widgets[0].control).toBe('fixed');
  });
});

describe('widget values', () => {
  const int = { name: 'n', kind: 'INT' as const, default: 0, optional: false, min: 0, max: 10 };
  test('numbers are clamped and rounded to their kind', () => {
    expect(clampWidgetNumber(int, 12.7)).toBe(10);
    expect(clampWidgetNumber(int, -3)).toBe(0);
    expect(clampWidgetNumber(int, 4.6)).toBe(5);
    expect(clampWidgetNumber({ ...int, kind: 'FLOAT', round: 0.25, max: 100 }, 3.3)).toBe(3.25);
    // A learning rate on a 1e-7 grid keeps its decimal value exactly.
    expect(clampWidgetNumber({ ...int, kind: 'FLOAT', round: 1e-7, max: 1 }, 1e-4)).toBe(1e-4);
    expect(clampWidgetNumber({ ...int, kind: 'FLOAT', round: 1e-7, max: 1 }, 3e-5)).toBe(3e-5);
  });

  test('control after generate: fixed, increment/decrement wrap, randomize stays in range', () => {
    expect(nextControlValue(int, 4, 'fixed')).toBe(4);
    expect(nextControlValue(int, 4, 'increment')).toBe(5);
    expect(nextControlValue(int, 10, 'increment')).toBe(0);
    expect(nextControlValue(int, 0, 'decrement')).toBe(10);
    const seq = [0.1, 0.9, 0.5, 0.3];
    let i = 0;
    for (let k = 0; k < 50; k++) {
      const v = nextControlValue(int, 4, 'randomize', () => seq[i++ % seq.length]);
      expect(Number.isInteger(v) && v >= 0 && v <= 10).toBe(true);
    }
    const big = nextControlValue({ min: 0, max: 2 ** 64 }, 0, 'randomize');
    expect(Number.isSafeInteger(big)).toBe(true);
  });
});

describe('finding node types', () => {
  test('search ranks title prefix matches first and needs every word', () => {
    const r = searchNodes(specs, 'text');
    expect(r.length).toBeGreaterThan(0);
    expect(r[0].title.toLowerCase().startsWith('text') || r[0].type.toLowerCase().startsWith('text')).toBe(
      true,
    );
    expect(searchNodes(specs, 'int math')[0].type).toBe('IntMath');
    expect(searchNodes(specs, 'no-such-node-xyz')).toEqual([]);
  });

  test('categories nest by slash and list their nodes', () => {
    const tree = categoryTree(specs);
    const utils = tree.children.find((c) => c.name === 'utils')!;
    expect(utils).toBeDefined();
    const text = utils.children.find((c) => c.name === 'text')!;
    expect(text.path).toBe('utils/text');
    expect(text.nodes.map((n) => n.type)).toContain('ShowText');
  });
});
