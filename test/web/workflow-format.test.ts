import * as fs from 'fs';
import * as path from 'path';
import { createEngine, editorToApi, toObjectInfo } from '../../server/engine';
import { interpretNodeDef, type NodeSpec } from '../../web/src/node-defs';
import type { ObjectInfo } from '../../web/src/protocol';
import {
  namedWidgetValues,
  normaliseWorkflow,
  workflowKey,
  positionalControlModes,
  workflowToApiPrompt,
  WorkflowError,
  type EditorWorkflow,
} from '../../web/src/workflow-format';

const engine = createEngine();
const specs: Record<string, NodeSpec> = Object.fromEntries(
  engine.registry.list().map((d) => [d.type, interpretNodeDef(toObjectInfo(d) as unknown as ObjectInfo)]),
);
const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../fixtures/editor-workflow.json'), 'utf8'),
) as EditorWorkflow;

describe('browser conversion agrees with the server', () => {
  test('the shared fixture: reroutes, bypass, mute, named and positional values', () => {
    expect(workflowToApiPrompt(fixture, specs)).toEqual(editorToApi(fixture as never, engine.registry));
  });

  test('a widget that takes a link is sent as the link, not its value', () => {
    const wf: EditorWorkflow = {
      nodes: [
        {
          id: 1,
          type: 'Int',
          outputs: [{ name: 'value', type: 'INT', links: [1] }],
          widgets_values: { value: 3 },
        },
        {
          id: 2,
          type: 'IntMath',
          inputs: [
            { name: 'a', type: 'INT', link: 1, widget: { name: 'a' } },
            { name: 'b', type: 'INT', link: null, widget: { name: 'b' } },
          ],
          widgets_values: { a: 99, b: 4, op: 'add' },
        },
        { id: 3, type: 'Note', widgets_values: { text: 'hi' } },
      ],
      links: [[1, 1, 0, 2, 0, 'INT']],
    };
    expect(workflowToApiPrompt(wf, specs)).toEqual({
      '1': { class_type: 'Int', inputs: { value: 3 } },
      '2': { class_type: 'IntMath', inputs: { a: ['1', 0], b: 4, op: 'add' } },
    });
  });
});

describe('widget values by name', () => {
  const seeded: NodeSpec = {
    type: 'S',
    title: 'S',
    category: '',
    description: '',
    outputNode: false,
    deprecated: false,
    experimental: false,
    sockets: [],
    outputs: [],
    widgets: [
      { name: 'seed', kind: 'INT', default: 0, optional: false, control: 'randomize' },
      { name: 'steps', kind: 'INT', default: 20, optional: false },
    ],
  };
  test("ComfyUI's positional values skip the control value after a seed", () => {
    const n = { id: 7, type: 'S', widgets_values: [42, 'increment', 30] };
    expect(namedWidgetValues(n, seeded)).toEqual({ seed: 42, steps: 30 });
    expect(positionalControlModes(n, seeded)).toEqual({ seed: 'increment' });
    expect(namedWidgetValues({ id: 7, type: 'S', widgets_values: [42, 30] }, seeded)).toEqual({
      seed: 42,
      steps: 30,
    });
  });

  test('positional values of an unknown type are refused with the node named', () => {
    expect(() => namedWidgetValues({ id: 9, type: 'Nope', widgets_values: [1] }, undefined)).toThrow(
      new WorkflowError("node 9: unknown node type 'Nope' (cannot map its positional widget values)"),
    );
  });
});

describe('documents litegraph loads', () => {
  test('link objects become tuples and the last ids are filled in', () => {
    const doc = normaliseWorkflow({
      nodes: [
        { id: 4, type: 'Int' },
        { id: 9, type: 'ShowText' },
      ],
      links: [{ id: 3, origin_id: 4, origin_slot: 0, target_id: 9, target_slot: 0, type: 'INT' }],
    });
    expect(doc.links).toEqual([[3, 4, 0, 9, 0, 'INT']]);
    expect(doc.version).toBe(0.4);
    expect(doc.last_node_id).toBe(9);
    expect(doc.last_link_id).toBe(3);
  });

  test('the view (pan and zoom) does not make a workflow look changed', () => {
    const a = { nodes: [], links: [], extra: { ds: { scale: 1, offset: [0, 0] } } };
    const b = { nodes: [], links: [], extra: { ds: { scale: 2, offset: [5, 5] } } };
    expect(workflowKey(a)).toBe(workflowKey(b));
    expect(workflowKey(a)).not.toBe(workflowKey({ ...a, nodes: [{ id: 1, type: 'Int' }] }));
    // nodes growing to show results do not count either; moving one does
    const n = { id: 1, type: 'Int', pos: [0, 0] as [number, number], size: [200, 80] as [number, number] };
    expect(workflowKey({ ...a, nodes: [n] })).toBe(
      workflowKey({ ...a, nodes: [{ ...n, size: [260, 300] }] }),
    );
    expect(workflowKey({ ...a, nodes: [n] })).not.toBe(workflowKey({ ...a, nodes: [{ ...n, pos: [5, 0] }] }));
  });
});
