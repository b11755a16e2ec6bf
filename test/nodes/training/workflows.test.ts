/** The shipped sampling and training workflows are valid graphs of the node types they name. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createEngine, formatValidation, toApiPrompt } from '../../../server/engine';
import { silentLog } from '../../helpers/tiny-nodes';

const WORKFLOWS = path.resolve(__dirname, '..', '..', '..', 'workflows');

describe('shipped D-DiT workflows', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-wf-'));
  const models = path.join(root, 'models');
  const input = path.join(root, 'input');
  fs.mkdirSync(models);
  fs.mkdirSync(input);
  // the file choices the workflows name, as a user's folders would hold them
  fs.writeFileSync(path.join(models, 'ddit-shapes.safetensors'), '');
  for (const made of ['ddit-shapes-deep', 'ddit-shapes-shift'])
    fs.writeFileSync(path.join(models, `${made}.safetensors`), '');
  fs.writeFileSync(path.join(input, 'example.png'), '');
  const saved = { models: process.env.DDIT_MODELS_DIR, input: process.env.DDIT_INPUT_DIR };
  beforeAll(() => {
    process.env.DDIT_MODELS_DIR = models;
    process.env.DDIT_INPUT_DIR = input;
  });
  afterAll(() => {
    process.env.DDIT_MODELS_DIR = saved.models;
    process.env.DDIT_INPUT_DIR = saved.input;
  });

  it.each([
    'text-to-image.json',
    'caption.json',
    'vqa.json',
    'train-ddit.json',
    'finetune-vqa.json',
    'train-shapes.json',
    'train-shapes-deep.json',
    'train-shapes-read.json',
    'train-shapes-shift.json',
    'shift-shapes-encoder.json',
    'deepen-shapes-model.json',
    'init-shapes-model.json',
  ])('%s validates', (name) => {
    const engine = createEngine({ folders: { models, input }, log: silentLog });
    const doc = JSON.parse(fs.readFileSync(path.join(WORKFLOWS, name), 'utf8'));
    const prompt = toApiPrompt(doc, engine.registry);
    const v = engine.validate(prompt);
    if (!v.ok) throw new Error(formatValidation(v));
    // every input a node sets is one its type declares
    for (const [id, node] of Object.entries(prompt)) {
      const def = engine.registry.get(node.class_type)!;
      for (const k of Object.keys(node.inputs))
        expect(`${id}.${k}: ${k in def.inputs}`).toBe(`${id}.${k}: true`);
    }
    // the shapes runs are run with --loop (docs/training.md); the examples carry their loop
    if (name === 'train-ddit.json' || name === 'finetune-vqa.json') {
      expect(doc.extra_data.loop.iterations).toBeGreaterThan(1);
    }
  });
});
