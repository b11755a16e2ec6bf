import {
  NodeRegistry,
  loadBuiltinPacks,
  toObjectInfo,
  inputsJsonSchema,
  defineNode,
} from '../../../server/engine';

describe('registry and node descriptions', () => {
  test('built-in packs register; a duplicate type names both sources', () => {
    const r = new NodeRegistry();
    expect(loadBuiltinPacks(r)).toContain('core');
    expect(r.has('ShowText')).toBe(true);
    const dup = defineNode({
      type: 'ShowText',
      category: 'x',
      description: 'dup',
      inputs: {},
      outputs: {},
      run: () => ({}),
    });
    expect(() => r.register(dup, 'plugin:acme')).toThrow(
      "Duplicate node type 'ShowText': defined by builtin:core and by plugin:acme",
    );
  });

  test('malformed definitions are refused with their source', () => {
    const r = new NodeRegistry();
    expect(() => r.register({ type: 'bad name!' } as never, 'p')).toThrow(
      /p: a node definition must be an object with a run/,
    );
    expect(() =>
      r.register({ type: 'bad name!', run: () => ({}), inputs: {}, outputs: {} } as never, 'p'),
    ).toThrow(/invalid node type name/);
  });

  test('object_info follows ComfyUI V1 shape', () => {
    const r = new NodeRegistry();
    loadBuiltinPacks(r);
    const info = toObjectInfo(r.get('IntMath')!);
    expect(info).toMatchObject({
      name: 'IntMath',
      display_name: 'Integer Math',
      category: 'utils/math',
      output: ['INT'],
      output_name: ['value'],
      output_is_list: [false],
      output_node: false,
      python_module: 'builtin:core',
      input_order: { required: ['a', 'b', 'op'], optional: [] },
    });
    expect(info.input.required.op[0]).toEqual([
      'add',
      'subtract',
      'multiply',
      'divide',
      'modulo',
      'power',
      'min',
      'max',
    ]);
    expect(info.input.required.a).toEqual(['INT', { default: 0, min: -(2 ** 53 - 1), max: 2 ** 53 - 1 }]);
    const show = toObjectInfo(r.get('ShowText')!);
    expect(show.output_node).toBe(true);
    expect(show.input.hidden).toEqual({ prompt: 'PROMPT', extra_pnginfo: 'EXTRA_PNGINFO' });
    const delay = toObjectInfo(r.get('Delay')!);
    expect(delay.input.optional.value).toEqual(['*', {}]);
  });

  test('seed controls and dynamic combos appear in object_info and the JSON schema', () => {
    let files = ['a.safetensors'];
    const def = defineNode({
      type: 'TestLoader',
      category: 'test',
      description: 'lists files',
      inputs: {
        ckpt: { type: 'COMBO', choices: () => files },
        seed: { type: 'INT', default: 0, min: 0, max: 100, control: 'randomize' },
      },
      outputs: {},
      run: () => ({}),
    });
    expect(toObjectInfo(def).input.required.seed[1]).toMatchObject({ control_after_generate: 'randomize' });
    expect(inputsJsonSchema(def)).toEqual({
      type: 'object',
      properties: {
        ckpt: { type: 'string', enum: ['a.safetensors'] },
        seed: { type: 'integer', minimum: 0, maximum: 100 },
      },
    });
    files = ['a.safetensors', 'b.safetensors'];
    expect(toObjectInfo(def).input.required.ckpt[0]).toEqual(files);
  });
});
