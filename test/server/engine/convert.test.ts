import * as fs from 'fs';
import * as path from 'path';
import { editorToApi, toApiPrompt } from '../../../server/engine';
import { makeEngine } from './helpers';

const engine = makeEngine();
const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../../fixtures/editor-workflow.json'), 'utf8'),
);

describe('editor format → API format', () => {
  test('named and positional widget values, links through reroutes, bypass and mute', () => {
    const api = editorToApi(fixture, engine.registry);
    expect(api).toEqual({
      '1': { class_type: 'Int', inputs: { value: 6 }, _meta: { title: 'a' } },
      '2': { class_type: 'Int', inputs: { value: 7 } },
      '3': { class_type: 'IntMath', inputs: { a: ['1', 0], b: ['2', 0], op: 'multiply' } },
      '4': { class_type: 'ToString', inputs: { value: ['3', 0], decimals: -1 } },
      '6': { class_type: 'ShowText', inputs: { text: ['4', 0] } },
      '8': { class_type: 'RandomInt', inputs: { min: 1, max: 9 } },
    });
  });

  test('the converted workflow runs', async () => {
    const r = await engine.execute(toApiPrompt(fixture, engine.registry));
    expect(r.status).toBe('success');
    expect(r.outputs['6']).toEqual({ text: ['42'] });
  });

  test('API format passes through; anything else is refused clearly', () => {
    const api = { '1': { class_type: 'Int', inputs: { value: 1 } } };
    expect(toApiPrompt(api, engine.registry)).toBe(api);
    expect(() => toApiPrompt({ hello: 1 }, engine.registry)).toThrow(/not a workflow/);
  });
});
