import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Engine, NodeRegistry, loadBuiltinPacks, type ApiPrompt } from '../../../server/engine';
import { ShapesDatasetNode } from '../../../nodes/data';
import { ShapesDataset, type InstructionItem } from '../../../nodes/data/shapes/dataset';
import type { NodeContext } from '../../../server/engine/types';

const silent = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };

function makeEngine(): Engine {
  const registry = new NodeRegistry();
  loadBuiltinPacks(registry);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-shapes-'));
  return new Engine({ registry, folders: { output: out, input: out, temp: out }, log: silent });
}

describe('data pack nodes', () => {
  const engine = makeEngine();

  it('ShapesScene draws a scene whose image the judge reads back, with its JSON and caption', async () => {
    const prompt: ApiPrompt = {
      '1': {
        class_type: 'ShapesScene',
        inputs: { seed: 7, kind: 'relation', caption: 'full', resolution: 32 },
      },
      '2': { class_type: 'JudgeImage', inputs: { image: ['1', 0] } },
      '3': { class_type: 'ShowText', inputs: { text: ['1', 1] } },
      '4': { class_type: 'ShowText', inputs: { text: ['1', 2] } },
    };
    const r = await engine.execute(prompt);
    expect(r.status).toBe('success');
    const scene = JSON.parse(r.outputs['3'].text![0]);
    expect(scene.objects).toHaveLength(2);
    const found = JSON.parse(r.outputs['2'].text![0]);
    const key = (o: { shape: string; color: string; size: string }): string =>
      `${o.size} ${o.color} ${o.shape}`;
    expect(found.map(key).sort()).toEqual(scene.objects.map(key).sort());
    expect(r.outputs['4'].text![0]).toMatch(
      /^a (small|large) \w+ (circle|square|triangle) (left of|above) a /,
    );
  });

  it('RenderScene renders scene JSON (one or a batch) and rejects bad scenes naming the input', async () => {
    const one = { objects: [{ shape: 'triangle', color: 'yellow', size: 'large', x: 0.7, y: 0.3 }] };
    const two = [one, { objects: [{ shape: 'square', color: 'white', size: 'small', x: 0.2, y: 0.8 }] }];
    const r = await engine.execute({
      '1': { class_type: 'RenderScene', inputs: { scene: JSON.stringify(two), resolution: 48 } },
      '2': { class_type: 'JudgeImage', inputs: { image: ['1', 0] } },
    });
    expect(r.status).toBe('success');
    const found = JSON.parse(r.outputs['2'].text![0]);
    expect(found).toHaveLength(2);
    expect(found[0]).toMatchObject([{ shape: 'triangle', color: 'yellow', size: 'large' }]);
    expect(found[1]).toMatchObject([{ shape: 'square', color: 'white', size: 'small' }]);

    const bad = await engine.execute({
      '1': {
        class_type: 'RenderScene',
        inputs: { scene: '{"objects": [{"shape": "star"}]}', resolution: 32 },
      },
      '2': { class_type: 'JudgeImage', inputs: { image: ['1', 0] } },
    });
    expect(bad.status).not.toBe('success');
    expect(bad.validation?.error?.message).toContain(
      `Node 1 (RenderScene): input 'scene': scene.objects[0].shape: "star" is not one of circle, square, triangle`,
    );
  });

  it('ShapesDataset yields a data set of images with captions or instructions', async () => {
    const { dataset } = (await ShapesDatasetNode.run(
      {
        seed: 3,
        size: 100,
        task: 'instruction',
        resolution: 32,
        caption_share: 0.35,
        question_kinds: '',
        hard_negatives: 1,
        caption_questions: 0,
        scene_mix: '',
        distinct_pairs: false,
      },
      {} as NodeContext,
    )) as { dataset: ShapesDataset };
    expect(dataset).toBeInstanceOf(ShapesDataset);
    expect(dataset.size).toBe(100);
    const item = dataset.get(10) as InstructionItem;
    expect(item.image).toHaveLength(32 * 32 * 3);
    expect(typeof item.question).toBe('string');
    expect(typeof item.answer).toBe('string');
    expect(dataset.get(10)).toEqual(item);
    // the default mix keeps the key a checkpoint records (no fingerprint of its own)
    expect(dataset.fingerprint).toBeUndefined();
  });

  it('ShapesDataset can restrict the instruction mix to some question kinds and a caption share', async () => {
    const run = async (inputs: {
      caption_share: number;
      question_kinds: string;
      hard_negatives?: number;
      caption_questions?: number;
      scene_mix?: string;
      distinct_pairs?: boolean;
    }) =>
      (
        (await ShapesDatasetNode.run(
          {
            seed: 3,
            size: 400,
            task: 'instruction',
            resolution: 32,
            hard_negatives: 1,
            caption_questions: 0,
            scene_mix: '',
            distinct_pairs: false,
            ...inputs,
          },
          {} as NodeContext,
        )) as { dataset: ShapesDataset }
      ).dataset;
    const yesNo = await run({ caption_share: 0, question_kinds: 'relation, is_there' });
    const kinds = new Set<string>();
    for (let i = 0; i < 400; i++) kinds.add((yesNo.get(i) as InstructionItem).kind);
    // every scene answers "is there…", so no item falls back to the caption request
    expect([...kinds].sort()).toEqual(['is_there', 'relation']);
    expect(yesNo.fingerprint).toContain('"question_kinds":["is_there","relation"]');
    // hard negatives share a colour or a shape with an object of the scene; easy ones need not
    const sharesAttribute = (item: InstructionItem): boolean => {
      const [, color, shape] = item.question.match(/^is there an? (\w+) (\w+)\?$/)!;
      return item.scene.objects.some((o) => o.color === color || o.shape === shape);
    };
    const negatives = (ds: ShapesDataset): InstructionItem[] =>
      Array.from({ length: 400 }, (_, i) => ds.get(i) as InstructionItem).filter((it) => it.answer === 'no');
    const allHard = negatives(await run({ caption_share: 0, question_kinds: 'is_there' }));
    expect(allHard.length).toBeGreaterThan(150);
    expect(allHard.every(sharesAttribute)).toBe(true);
    const mixed = negatives(await run({ caption_share: 0, question_kinds: 'is_there', hard_negatives: 0 }));
    expect(mixed.filter((it) => !sharesAttribute(it)).length).toBeGreaterThan(mixed.length / 4);
    const captions = await run({ caption_share: 1, question_kinds: '' });
    for (let i = 0; i < 50; i++) expect((captions.get(i) as InstructionItem).kind).toBe('caption');
    // questions about a caption in the prompt show a blank canvas; the scene they ask about stays on the item
    const read = await run({ caption_share: 0.35, question_kinds: '', caption_questions: 0.5 });
    const fromCaption = Array.from({ length: 400 }, (_, i) => read.get(i) as InstructionItem).filter(
      (it) => it.fromCaption,
    );
    expect(fromCaption.length).toBeGreaterThan(150);
    expect(fromCaption.length).toBeLessThan(250);
    const blank = fromCaption[0].image;
    expect(Math.max(...blank)).toBeLessThan(0.01);
    expect(fromCaption[0].scene.objects.length).toBeGreaterThan(0);
    expect(read.fingerprint).toContain('"caption_questions":0.5');
    // a scene mix of random pairs of two shapes only
    const pairs = await run({
      caption_share: 1,
      question_kinds: '',
      scene_mix: 'pair 1',
      distinct_pairs: true,
    });
    for (let i = 0; i < 100; i++) {
      const { objects } = pairs.get(i).scene;
      expect(objects).toHaveLength(2);
      expect(objects[0].shape).not.toBe(objects[1].shape);
    }
    expect(pairs.fingerprint).toContain('"distinct_pairs":true');
    expect(ShapesDatasetNode.validate!({ question_kinds: '', scene_mix: 'pairs 0.3' } as never)).toBe(
      `input 'scene_mix': 'pairs 0.3' is not "<kind> <weight>" with a kind among single, pair, relation, counting, crowd`,
    );
    expect(ShapesDatasetNode.validate!({ question_kinds: 'is_there,colour' } as never)).toBe(
      "input 'question_kinds': unknown question kind 'colour' (choose from what_color, what_shape, how_many, is_there, where, relation)",
    );
  });
});
