import fs from 'node:fs';
import path from 'node:path';
import { Rng } from '../../../nodes/data/shapes/random';
import { renderScene } from '../../../nodes/data/shapes/render';
import { validateEvalSet } from '../../../nodes/eval/eval-set';
import { oracleModel, sceneFromText } from '../../../nodes/eval/oracle';
import { formatReport, formatStepsAblation, reportJson } from '../../../nodes/eval/report';
import { runEvaluation, type EvalModel, type ItemResult } from '../../../nodes/eval/run-eval';

const set = validateEvalSet(
  JSON.parse(fs.readFileSync(path.join(__dirname, '../../../workflows/eval/shapes-public.json'), 'utf8')),
  'shapes-public.json',
);

/** A model that gets things wrong in known ways. */
const wrongModel: EvalModel = {
  name: 'wrong',
  // Always one red circle in the middle, whatever the prompt.
  textToImage: () =>
    renderScene({
      background: 'black',
      objects: [{ shape: 'circle', color: 'red', size: 'large', x: 0.5, y: 0.5 }],
    }),
  caption: () => 'a red circle',
  answer: () => 'yes',
};

describe('runEvaluation', () => {
  it('scores an oracle (renderer + rules, reading images with the judge) 1.0 everywhere', async () => {
    const seen: number[] = [];
    const report = await runEvaluation(set, oracleModel(), {
      onItem: (_r, done, total) => seen.push(done / total),
    });
    expect(report.t2i?.overall).toBe(1);
    for (const v of Object.values(report.t2i!.categories)) expect(v).toBe(1);
    expect(Object.keys(report.t2i!.categories)).toHaveLength(6);
    expect(report.caption).toMatchObject({ exact_scene: 1, attributes: 1 });
    expect(report.vqa?.overall).toBe(1);
    expect(Object.keys(report.vqa!.by_question).sort()).toEqual([
      'how_many',
      'is_there',
      'relation',
      'what_color',
      'what_shape',
      'where',
    ]);
    expect(report.items).toHaveLength(150);
    expect(seen[seen.length - 1]).toBe(1);
  });

  it('scores wrong answers lower, per category and per question', async () => {
    const report = await runEvaluation(set, wrongModel);
    const c = report.t2i!.categories;
    expect(c.single_object).toBeCloseTo(set.t2i.filter((i) => i.prompt === 'a circle').length / 9, 5);
    expect(c.counting).toBe(0);
    expect(c.two_object).toBe(0);
    expect(report.t2i!.overall).toBeLessThan(0.2);
    expect(report.caption!.exact_scene).toBeLessThan(0.1);
    expect(report.caption!.attributes).toBeLessThan(0.6);
    expect(report.vqa!.by_question.is_there).toBe(0.5);
    expect(report.vqa!.by_question.what_color).toBe(0);
    expect(report.vqa!.overall).toBeLessThan(0.25);
    const failed = report.items.find(
      (r): r is Extract<ItemResult, { section: 't2i' }> => r.section === 't2i' && !r.pass,
    );
    expect(failed?.found).toEqual([{ shape: 'circle', color: 'red', size: 'large', x: 0.5, y: 0.5 }]);
    // every failed sample has its reason, and the per-category table adds up to them
    const fails = report.items.filter((r) => r.section === 't2i' && !r.pass);
    const tallied = Object.values(report.t2i!.failures).flatMap((byReason) => Object.values(byReason!));
    expect(tallied.reduce((a, b) => a + b, 0)).toBe(fails.length);
    // one red circle for "a square and a triangle" or "a circle and a square": a shape is missing
    expect(Object.keys(report.t2i!.failures.two_object!)).toEqual(['shape']);
  });

  it('writes the JSON report of the issue', async () => {
    const report = await runEvaluation(set, oracleModel());
    const json = JSON.parse(reportJson(report));
    expect(Object.keys(json)).toEqual(expect.arrayContaining(['t2i', 'caption', 'vqa', 'items']));
    expect(Object.keys(json.t2i)).toEqual(expect.arrayContaining(['overall', 'categories']));
    expect(Object.keys(json.caption)).toEqual(expect.arrayContaining(['exact_scene', 'attributes']));
    expect(Object.keys(json.vqa)).toEqual(expect.arrayContaining(['overall', 'by_question']));
    for (const item of json.items) expect(['t2i', 'caption', 'vqa']).toContain(item.section);
  });

  it('runs only the sections a model can do, and says what is missing', async () => {
    const onlyVqa = await runEvaluation(set, { answer: () => 'no' });
    expect(onlyVqa.t2i).toBeNull();
    expect(onlyVqa.caption).toBeNull();
    expect(onlyVqa.vqa?.n).toBe(60);
    await expect(runEvaluation(set, { answer: () => 'no' }, { sections: ['t2i'] })).rejects.toThrow(
      'section "t2i" needs model.textToImage',
    );
  });

  it('gives each item its own seed, the same on every run', async () => {
    const seeds: number[][] = [[], []];
    for (const run of [0, 1]) {
      await runEvaluation(
        { ...set, caption: [], vqa: [] },
        {
          textToImage: (_p, ctx) => {
            seeds[run].push(ctx.seed);
            return renderScene({ background: 'black', objects: [] });
          },
        },
      );
    }
    expect(seeds[0]).toEqual(seeds[1]);
    expect(new Set(seeds[0]).size).toBe(set.t2i.length);
  });

  it("hands batched models chunks of batchSize items with the single path's seeds and the same scores", async () => {
    const oracle = oracleModel();
    const single: number[] = [];
    const batched: number[] = [];
    const sizes: number[] = [];
    const one = await runEvaluation(set, {
      textToImage: (p, ctx) => (single.push(ctx.seed), oracle.textToImage(p, ctx)),
      caption: (img, ctx) => (single.push(ctx.seed), oracle.caption(img, ctx)),
      answer: (img, q, ctx) => (single.push(ctx.seed), oracle.answer(img, q, ctx)),
    });
    const many = await runEvaluation(
      set,
      {
        textToImageBatch: (prompts, ctx) => {
          sizes.push(prompts.length);
          batched.push(...ctx.map((c) => c.seed));
          return Promise.all(prompts.map((p, k) => oracle.textToImage(p, ctx[k])));
        },
        captionBatch: (images, ctx) => {
          sizes.push(images.length);
          batched.push(...ctx.map((c) => c.seed));
          return Promise.all(images.map((img, k) => oracle.caption(img, ctx[k])));
        },
        answerBatch: (items, ctx) => {
          sizes.push(items.length);
          batched.push(...ctx.map((c) => c.seed));
          return Promise.all(items.map((it, k) => oracle.answer(it.image, it.question, ctx[k])));
        },
      },
      { batchSize: 16 },
    );
    expect(batched).toEqual(single);
    expect(many.items).toEqual(one.items);
    // 50 t2i, 40 caption, 60 vqa items in chunks of at most 16
    expect(sizes).toEqual([16, 16, 16, 2, 16, 16, 8, 16, 16, 16, 12]);
    await expect(
      runEvaluation({ ...set, t2i: [] }, { captionBatch: () => ['a circle'] }, { batchSize: 4 }),
    ).rejects.toThrow('captionBatch returned 1 results for 4 items');
  });

  it('stops when its signal is aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(runEvaluation(set, wrongModel, { signal: ac.signal })).rejects.toThrow('interrupted');
  });
});

describe('report tables', () => {
  it('prints GenEval-style tables with the unconditional control beside t2i', async () => {
    const report = await runEvaluation(set, oracleModel());
    const control = await runEvaluation(set, wrongModel);
    const text = formatReport(report, { control });
    expect(text).toContain('Eval set shapes-public (v1) — model oracle');
    expect(text).toMatch(/text-to-image\s+score\s+strict\s+uncond\s+n/);
    expect(text).toMatch(/counting\s+1\.000\s+1\.000\s+0\.000\s+8/);
    expect(text).toMatch(/exact scene\s+1\.000/);
    expect(text).toMatch(/relation\s+1\.000/);
    expect(formatReport(report)).not.toContain('uncond');
    expect(text).not.toContain('Text-to-image failures');
    expect(formatReport(control)).toMatch(/two_object\s+0\s+\d+\s+0\s+0\s+0\s+0/);
    const ablation = formatStepsAblation([
      { steps: 4, report: control },
      { steps: 16, report },
    ]);
    expect(ablation).toMatch(/4\s+0\.\d{3}\s+0\.\d{3}/);
    expect(ablation).toMatch(/16\s+1\.000\s+1\.000\s+1\.000/);
  });
});

describe('sceneFromText', () => {
  it('draws what a caption states, positions and relations included', () => {
    const rng = new Rng(3);
    for (let i = 0; i < 20; i++) {
      const s = sceneFromText('a large red circle on the left', rng);
      expect(s.objects).toHaveLength(1);
      expect(s.objects[0]).toMatchObject({ shape: 'circle', color: 'red', size: 'large' });
      expect(s.objects[0].x).toBeLessThan(0.35);
      const r = sceneFromText('a square above a triangle', rng);
      expect(r.objects[0].y).toBeLessThan(r.objects[1].y - 0.1);
    }
    expect(sceneFromText('nothing here', rng).objects).toEqual([]);
  });
});
