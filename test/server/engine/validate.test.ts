import { defineNode } from '../../../server/engine';
import { makeEngine } from './helpers';

const engine = makeEngine();
const v = (p: unknown): ReturnType<typeof engine.validate> => engine.validate(p);

function errorTypes(r: ReturnType<typeof engine.validate>, id: string): string[] {
  return (r.node_errors[id]?.errors ?? []).map((e) => e.type);
}

describe('validatePrompt', () => {
  test('a valid prompt passes, with defaults filled and constants coerced', () => {
    const r = v({
      '1': { class_type: 'Int', inputs: { value: '5' } },
      '2': { class_type: 'ToString', inputs: { value: ['1', 0] } },
      '3': { class_type: 'ShowText', inputs: { text: ['2', 0] } },
    });
    expect(r.ok).toBe(true);
    expect(r.outputs).toEqual(['3']);
    expect(r.prompt['1'].inputs.value).toBe(5);
    expect(r.prompt['2'].inputs.decimals).toBe(-1);
  });

  test('unknown class and missing class_type are invalid_prompt errors naming the node', () => {
    const r = v({ '7': { class_type: 'NoSuchNode', inputs: {} } });
    expect(r.ok).toBe(false);
    expect(r.error?.type).toBe('invalid_prompt');
    expect(r.error?.message).toContain('7');
    expect(r.error?.message).toContain('NoSuchNode');
    expect(v({ '3': { inputs: {} } }).error?.type).toBe('invalid_prompt');
  });

  test('no outputs', () => {
    expect(v({ '1': { class_type: 'Int', inputs: { value: 1 } } }).error?.type).toBe('prompt_no_outputs');
    expect(v(null).error?.type).toBe('no_prompt');
  });

  test('missing required input', () => {
    const r = v({ '3': { class_type: 'ShowText', inputs: {} } });
    expect(r.error?.type).toBe('prompt_outputs_failed_validation');
    expect(errorTypes(r, '3')).toEqual(['required_input_missing']);
    expect(r.node_errors['3'].errors[0].message).toBe(
      "Node 3 (ShowText), input 'text': required input is missing",
    );
    expect(r.node_errors['3'].class_type).toBe('ShowText');
  });

  test('bad link: malformed, dangling, and to a missing output slot', () => {
    const base = { '1': { class_type: 'String', inputs: { text: 'x' } } };
    expect(errorTypes(v({ ...base, '3': { class_type: 'ShowText', inputs: { text: ['1'] } } }), '3')).toEqual(
      ['bad_linked_input'],
    );
    expect(
      errorTypes(v({ ...base, '3': { class_type: 'ShowText', inputs: { text: ['9', 0] } } }), '3'),
    ).toEqual(['bad_linked_input']);
    const slot = v({ ...base, '3': { class_type: 'ShowText', inputs: { text: ['1', 4] } } });
    expect(errorTypes(slot, '3')).toEqual(['bad_linked_input']);
    expect(slot.node_errors['3'].errors[0].message).toContain('has no output 4');
  });

  test('type mismatch names both ends', () => {
    const r = v({
      '1': { class_type: 'TestBlob', inputs: {} },
      '3': { class_type: 'ShowText', inputs: { text: ['1', 0] } },
    });
    expect(errorTypes(r, '3')).toEqual(['return_type_mismatch']);
    expect(r.node_errors['3'].errors[0].message).toContain('expects STRING');
    expect(r.node_errors['3'].errors[0].extra_info.received_type).toBe('BLOB');
  });

  test('values out of range, wrong type, not in list', () => {
    const r = v({
      '1': { class_type: 'IntMath', inputs: { a: 2 ** 60, b: 'seven', op: 'cube' } },
      '2': { class_type: 'ToString', inputs: { value: ['1', 0], decimals: -5 } },
      '3': { class_type: 'ShowText', inputs: { text: ['2', 0] } },
    });
    expect(errorTypes(r, '1').sort()).toEqual([
      'invalid_input_type',
      'value_bigger_than_max',
      'value_not_in_list',
    ]);
    expect(errorTypes(r, '2')).toEqual(['value_smaller_than_min']);
    const msg = r.node_errors['1'].errors.find((e) => e.type === 'value_not_in_list')!.message;
    expect(msg).toContain("Node 1 (IntMath), input 'op'");
    expect(r.node_errors['2'].dependent_outputs).toEqual(['3']);
  });

  test('a COMBO whose choice list is empty (an empty folder) rejects every value with a clear error', () => {
    const PickFile = defineNode({
      type: 'TestPickFile',
      category: 'test',
      description: 'A COMBO listed from an empty folder.',
      output: true,
      inputs: { name: { type: 'COMBO', choices: () => [] } },
      outputs: { name: { type: 'STRING' } },
      run: ({ name }) => ({ name }),
    });
    const e = makeEngine([PickFile]);
    const r = e.validate({ '1': { class_type: 'TestPickFile', inputs: { name: 'example.png' } } });
    expect(r.ok).toBe(false);
    expect(errorTypes(r, '1')).toEqual(['value_not_in_list']);
    expect(r.node_errors['1'].errors[0].message).toContain("Node 1 (TestPickFile), input 'name'");
    expect(r.node_errors['1'].errors[0].message).toContain('no choices');
  });

  test('custom validation failure', () => {
    const r = v({
      '1': { class_type: 'RandomInt', inputs: { min: 10, max: 1 } },
      '2': { class_type: 'ToString', inputs: { value: ['1', 0] } },
      '3': { class_type: 'ShowText', inputs: { text: ['2', 0] } },
    });
    expect(errorTypes(r, '1')).toEqual(['custom_validation_failed']);
  });

  test('a cycle is reported on a node in it', () => {
    const r = v({
      '1': { class_type: 'TextConcat', inputs: { a: ['2', 0], b: 'x' } },
      '2': { class_type: 'TextConcat', inputs: { a: ['1', 0], b: 'y' } },
      '3': { class_type: 'ShowText', inputs: { text: ['2', 0] } },
    });
    expect(r.ok).toBe(false);
    const all = Object.values(r.node_errors).flatMap((n) => n.errors.map((e) => e.type));
    expect(all).toContain('dependency_cycle');
  });

  test('a failing output is dropped while a good one still runs', () => {
    const r = v({
      '1': { class_type: 'String', inputs: { text: 'hello' } },
      '2': { class_type: 'ShowText', inputs: { text: ['1', 0] } },
      '3': { class_type: 'ShowText', inputs: {} },
    });
    expect(r.ok).toBe(true);
    expect(r.outputs).toEqual(['2']);
    expect(Object.keys(r.node_errors)).toEqual(['3']);
  });
});
