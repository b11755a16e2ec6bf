/**
 * `ddit eval`: flag and file errors (checked before any model loads), and the real command on the bundled
 * checkpoint with a tiny set (one t2i item per category, two captions, three question kinds).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { T2I_CATEGORIES, type EvalSet } from '../../../nodes/eval/eval-set';
import { overrideSamplerSettings, readSamplerSettings } from '../../../nodes/eval/sampler-settings';
import { DEFAULT_SET, loadEvalSet, planEval } from '../../../server/commands/eval';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const MODELS = path.join(ROOT, 'models');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-eval-cmd-'));

function write(name: string, content: unknown): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

function ddit(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'ddit.js'), ...args], {
    cwd: tmp,
    encoding: 'utf8',
    // ONNX exports go to a private folder, not beside the shipped checkpoint
    env: { ...process.env, DDIT_ONNX_CACHE: path.join(tmp, 'onnx') },
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('ddit eval: flags and files', () => {
  it('defaults to the public set, the bundled checkpoint, every section and the 4,8,16 ablation', () => {
    const plan = planEval({}, { cwd: tmp, modelsDir: MODELS });
    expect(plan.setFile).toBe(DEFAULT_SET);
    expect(plan.checkpoint).toBe(path.join(MODELS, 'ddit-shapes.safetensors'));
    expect(plan.sections).toEqual(['t2i', 'caption', 'vqa']);
    expect(plan.ablationSteps).toEqual([4, 8, 16]);
    expect(plan.set.t2i.length).toBeGreaterThan(2);
    const quick = planEval(
      { limit: '2', sections: 'vqa,t2i', stepsAblation: '16,2', ckpt: 'ddit-shapes', seed: '3' },
      { cwd: tmp, modelsDir: MODELS },
    );
    expect([quick.set.t2i.length, quick.set.caption.length, quick.set.vqa.length]).toEqual([2, 2, 2]);
    expect(quick.sections).toEqual(['t2i', 'vqa']);
    expect(quick.ablationSteps).toEqual([2, 16]);
    expect(quick.checkpoint).toBe(path.join(MODELS, 'ddit-shapes.safetensors'));
    expect(quick.seed).toBe(3);
    expect(planEval({ stepsAblation: false }, { cwd: tmp, modelsDir: MODELS }).ablationSteps).toEqual([]);
  });

  it('names the missing, unreadable or invalid set file', () => {
    const opts = { cwd: tmp, modelsDir: MODELS };
    expect(() => planEval({ set: 'nope.json' }, opts)).toThrow(
      `eval set ${path.join(tmp, 'nope.json')} not found`,
    );
    const broken = write('broken.json', '{"name": ');
    expect(() => planEval({ set: broken }, opts)).toThrow(`eval set ${broken} is not valid JSON`);
    const bad = write('bad.json', {
      name: 'bad',
      version: 1,
      t2i: [{ id: 'a', category: 'shapes', prompt: 'a circle', require: { objects: [{ shape: 'circle' }] } }],
    });
    expect(() => planEval({ set: bad }, opts)).toThrow(
      `invalid eval set ${bad}:\n  /t2i/0/category must be equal to one of the allowed values`,
    );
    const empty = write('empty.json', { name: 'empty', version: 1, vqa: [] });
    expect(() => planEval({ set: empty }, opts)).toThrow('has no t2i, caption, vqa items to evaluate');
  });

  it('generates a seeded set of the asked sizes instead of reading one', () => {
    const opts = { cwd: tmp, modelsDir: MODELS };
    const plan = planEval({ generate: '12, 0, 18', setSeed: '7' }, opts);
    expect(plan.setFile).toBe('generated (seed 7)');
    expect(plan.set.name).toBe('shapes-generated-7');
    expect([plan.set.t2i.length, plan.set.caption.length, plan.set.vqa.length]).toEqual([12, 0, 18]);
    expect(plan.sections).toEqual(['t2i', 'vqa']); // nothing to caption
    // every category and question form is represented, and the same seed gives the same set
    expect(new Set(plan.set.t2i.map((i) => i.category)).size).toBe(6);
    expect(
      new Set(plan.set.vqa.map((i) => i.question.split(' ').slice(0, 2).join(' '))).size,
    ).toBeGreaterThan(3);
    expect(planEval({ generate: '12,0,18', setSeed: '7' }, opts).set).toEqual(plan.set);
    expect(planEval({ generate: '12,0,18' }, opts).set).not.toEqual(plan.set); // seed 1
    expect(() => planEval({ generate: '12,18' }, opts)).toThrow(
      "--generate takes three counts t2i,caption,vqa (e.g. 240,0,600), got '12,18'",
    );
    expect(() => planEval({ generate: '0,0,0' }, opts)).toThrow('--generate: every count is 0');
    expect(() => planEval({ generate: '1,x,1' }, opts)).toThrow("--generate must be an integer ≥ 0, got 'x'");
    expect(() => planEval({ generate: '1,1,1', set: 'a.json' }, opts)).toThrow(
      '--set and --generate exclude each other',
    );
    expect(() => planEval({ setSeed: '3' }, opts)).toThrow('--set-seed only applies to --generate');
  });

  it('lists the available checkpoints for an unknown one, and rejects bad flag values', () => {
    const opts = { cwd: tmp, modelsDir: MODELS };
    expect(() => planEval({ ckpt: 'missing.safetensors' }, opts)).toThrow(
      new RegExp(
        `unknown checkpoint 'missing.safetensors': not a file, and not in ${MODELS} \\(available there: .*ddit-shapes\\.safetensors`,
      ),
    );
    expect(() => planEval({ sections: 't2i,captions' }, opts)).toThrow(
      "--sections: unknown section 'captions'; choose from t2i, caption, vqa (comma-separated)",
    );
    expect(() => planEval({ sections: ',' }, opts)).toThrow('--sections: no section given');
    expect(() => planEval({ limit: '0' }, opts)).toThrow("--limit must be an integer ≥ 1, got '0'");
    expect(() => planEval({ stepsAblation: '4,x' }, opts)).toThrow(
      "--steps-ablation must be an integer ≥ 1, got 'x'",
    );
    expect(() => planEval({ inference: 'gpu' }, opts)).toThrow('--inference must be one of auto, onnx, tfjs');
  });

  it('overrides shipped sampler settings with --sampler, and names a bad key or value', () => {
    const opts = { cwd: tmp, modelsDir: MODELS };
    const shipped = readSamplerSettings();
    const s = overrideSamplerSettings(shipped, 't2i.cfg=1.5, t2i.steps=40,vqa.steps=4');
    expect(s.t2i).toEqual({ ...shipped.t2i, cfg: 1.5, steps: 40 });
    expect(s.vqa).toEqual({ ...shipped.vqa, steps: 4 });
    expect(s.caption).toEqual(shipped.caption);
    expect(shipped.t2i.steps).not.toBe(40); // the shipped object is left as it was
    expect(planEval({ sampler: 't2i.shift=2' }, opts).sampler).toBe('t2i.shift=2');
    expect(() => planEval({ sampler: 't2i.eta=1' }, opts)).toThrow(
      "--sampler: unknown setting 't2i.eta' (one of t2i.cfg, t2i.steps, t2i.shift, t2i.candidates, caption.steps, caption.temperature, vqa.steps, vqa.temperature)",
    );
    expect(() => planEval({ sampler: 't2i.steps=2.5' }, opts)).toThrow(
      "--sampler: t2i.steps must be an integer in [1, 1000], got '2.5'",
    );
    expect(() => planEval({ sampler: 't2i.cfg=' }, opts)).toThrow(
      "--sampler: t2i.cfg must be a number in [0, 30], got ''",
    );
  });
});

describe('ddit eval on the bundled checkpoint', () => {
  it('prints the tables with the unconditional control and the ablation, and writes the JSON report', () => {
    const pub = loadEvalSet(DEFAULT_SET);
    const kinds = ['what color', 'how many', 'where is'];
    const tiny: EvalSet = {
      name: 'tiny',
      version: 1,
      t2i: T2I_CATEGORIES.map((c) => pub.t2i.find((i) => i.category === c)!),
      caption: pub.caption.slice(0, 2),
      vqa: kinds.map((k) => pub.vqa.find((i) => i.question.startsWith(k))!),
    };
    const setFile = write('tiny.json', tiny);
    const r = ddit([
      'eval',
      '--set',
      'tiny.json',
      '--steps-ablation',
      '2,8',
      '--batch',
      '4',
      '--json',
      'out/report.json',
      '--images',
      'out/samples',
    ]);
    expect(r.stderr).toContain('eval set tiny');
    expect(r.status).toBe(0);
    // progress and settings on stderr, tables on stdout
    expect(r.stderr).toMatch(/text-to-image: Euler flow sampler, \d+ steps/);
    expect(r.stderr).toContain('text-to-image control (empty prompt, = CFG 0)');
    expect(r.stdout).toMatch(/text-to-image\s+score\s+strict\s+uncond\s+n/);
    expect(r.stdout).toContain('Captioning (n = 2)');
    expect(r.stdout).toContain('VQA (n = 3, exact match)');
    expect(r.stdout).toMatch(/Text sampler steps ablation[\s\S]*\n2\s+[\d.]+[\s\S]*\n8\s+[\d.]+/);
    expect(r.stdout).not.toContain('device:');

    const json = JSON.parse(fs.readFileSync(path.join(tmp, 'out', 'report.json'), 'utf8'));
    const score = expect.any(Number);
    const inUnit = (v: number) => expect(v >= 0 && v <= 1).toBe(true);
    expect(json.t2i).toMatchObject({ overall: score, n: 6 });
    expect(Object.keys(json.t2i.categories).sort()).toEqual([...T2I_CATEGORIES].sort());
    [json.t2i.overall, ...Object.values<number>(json.t2i.categories)].forEach(inUnit);
    expect(json.caption).toMatchObject({ exact_scene: score, attributes: score, n: 2 });
    [json.caption.exact_scene, json.caption.attributes].forEach(inUnit);
    expect(Object.keys(json.vqa.by_question).sort()).toEqual(['how_many', 'what_color', 'where']);
    [json.vqa.overall, ...Object.values<number>(json.vqa.by_question)].forEach(inUnit);
    expect(json.items).toHaveLength(11);
    expect(json.items.map((i: { section: string }) => i.section)).toEqual([
      ...Array(6).fill('t2i'),
      ...Array(2).fill('caption'),
      ...Array(3).fill('vqa'),
    ]);
    expect(Object.keys(json.t2i_control.categories).sort()).toEqual([...T2I_CATEGORIES].sort());
    inUnit(json.t2i_control.overall);
    expect(json.steps_ablation.map((row: { steps: number }) => row.steps)).toEqual([2, 8]);
    // 8 steps is the VQA workflow's own setting: that row is the main run
    expect(json.run.settings.vqa.steps).toBe(8);
    expect(json.steps_ablation[1].vqa).toBe(json.vqa.overall);
    expect(json.run).toMatchObject({ checkpoint: 'ddit-shapes.safetensors', set_file: setFile, seed: 0 });

    // --images: one PNG per text-to-image item and per control item, named by id and the judge's verdict
    const samples = path.join(tmp, 'out', 'samples');
    const t2iItems = json.items.filter((i: { section: string }) => i.section === 't2i');
    const named = (i: { id: string; pass: boolean }) => `${i.id}-${i.pass ? 'pass' : 'fail'}.png`;
    expect(
      fs
        .readdirSync(samples)
        .filter((f) => f.endsWith('.png'))
        .sort(),
    ).toEqual(t2iItems.map(named).sort());
    expect(fs.readdirSync(path.join(samples, 'control'))).toHaveLength(6);
    const png = fs.readFileSync(path.join(samples, named(t2iItems[0])));
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(png.readUInt32BE(16)).toBe(32); // width from the IHDR chunk: the workflow's 32 × 32
    const index = fs.readFileSync(path.join(samples, 'index.html'), 'utf8');
    for (const item of t2iItems) expect(index).toContain(`src="${named(item)}"`);
    expect(index).toContain(`(${t2iItems.filter((i: { pass: boolean }) => i.pass).length} / 6 pass)`);
    expect(r.stderr).toContain('text-to-image samples in');
  });

  it('fails with the message on stderr and exit code 1', () => {
    const r = ddit(['eval', '--sections', 'pictures']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("ddit: --sections: unknown section 'pictures'");
  });
});
