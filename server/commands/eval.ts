import * as fs from 'fs';
import * as path from 'path';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { lintEvalSet, validateEvalSet, type EvalSet } from '../../nodes/eval/eval-set';
import { generateEvalSet } from '../../nodes/eval/generate-eval-set';
import type { EvaluateResult } from '../../nodes/eval/evaluate';
import type { SamplerSettings } from '../../nodes/eval/sampler-settings';
import { defaultFolders, listFiles } from '../../nodes/image/files';
import { T2IImageWriter } from './eval-images';

/*
 * `ddit eval`: scores a checkpoint on an eval set (issue 5's format) with the shipped workflows' sampler
 * settings. Only light modules are imported at the top: every CLI command file is loaded at start-up, and
 * the tensor stack is required inside the action, after the runtime is chosen.
 */

const ROOT = path.resolve(__dirname, '..', '..');
export const DEFAULT_SET = path.join(ROOT, 'workflows', 'eval', 'shapes-public.json');
export const DEFAULT_CHECKPOINT = 'ddit-shapes.safetensors';
export const DEFAULT_ABLATION = '4,8,16';
const SECTIONS = ['t2i', 'caption', 'vqa'] as const;
type Section = (typeof SECTIONS)[number];
const INFERENCE = ['auto', 'onnx', 'tfjs'];

export interface EvalFlags {
  set?: string;
  /** "t2i,caption,vqa" item counts of a set generated instead of read (with setSeed). */
  generate?: string;
  setSeed?: string;
  ckpt?: string;
  json?: string;
  limit?: string;
  sections?: string;
  /** A list, or false for --no-steps-ablation. */
  stepsAblation?: string | false;
  seed?: string;
  batch?: string;
  inference?: string;
  images?: string;
  /** "key=value,…" overrides of the shipped sampler settings. */
  sampler?: string;
  quiet?: boolean;
}

export interface EvalPlan {
  /** The set's file, or "generated (seed N)". */
  setFile: string;
  set: EvalSet;
  /** Soft warnings about the set (questions outside the six forms, answers the rules disagree with). */
  notes: string[];
  checkpoint: string;
  sections: Section[];
  limit?: number;
  ablationSteps: number[];
  seed: number;
  batchSize: number;
  inference: string;
  json?: string;
  /** Folder for the text-to-image samples and their index.html. */
  images?: string;
  /** Sampler overrides (--sampler), checked against the shipped settings when the plan is made. */
  sampler?: string;
  /** The shipped settings with those overrides applied (absent without --sampler: read when the run starts). */
  settings?: SamplerSettings;
}

function positiveInt(flag: string, v: string, min = 1): number {
  const n = Number(v);
  if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < min)
    throw new Error(`${flag} must be an integer ≥ ${min}, got '${v}'`);
  return n;
}

export function parseSections(v: string | undefined): Section[] {
  if (v === undefined) return [...SECTIONS];
  const parts = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = parts.filter((p) => !(SECTIONS as readonly string[]).includes(p));
  if (bad.length || !parts.length) {
    throw new Error(
      `--sections: ${bad.length ? `unknown section ${bad.map((b) => `'${b}'`).join(', ')}` : 'no section given'}; ` +
        `choose from ${SECTIONS.join(', ')} (comma-separated)`,
    );
  }
  return SECTIONS.filter((s) => parts.includes(s));
}

export function parseStepsList(v: string | false | undefined): number[] {
  if (v === false) return [];
  const text = v ?? DEFAULT_ABLATION;
  if (['none', 'off', ''].includes(text.trim().toLowerCase())) return [];
  const steps = text.split(',').map((s) => positiveInt('--steps-ablation', s.trim()));
  return [...new Set(steps)].sort((a, b) => a - b);
}

export function loadEvalSet(file: string): EvalSet {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(
      err.code === 'ENOENT' ? `eval set ${file} not found` : `cannot read eval set ${file}: ${err.message}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`eval set ${file} is not valid JSON: ${(e as Error).message}`);
  }
  return validateEvalSet(json, file);
}

/** A set file relative to the working folder; a generated set's label as it is. */
function setLabel(setFile: string): string {
  return path.isAbsolute(setFile) ? path.relative(process.cwd(), setFile) || setFile : setFile;
}

/** "240,0,600" → item counts per section for generateEvalSet. */
export function parseGenerate(v: string): { t2i: number; caption: number; vqa: number } {
  const parts = v.split(',').map((x) => x.trim());
  if (parts.length !== 3)
    throw new Error(`--generate takes three counts t2i,caption,vqa (e.g. 240,0,600), got '${v}'`);
  const [t2i, caption, vqa] = parts.map((x) => positiveInt('--generate', x, 0));
  if (t2i + caption + vqa === 0) throw new Error('--generate: every count is 0');
  return { t2i, caption, vqa };
}

/** A checkpoint given as a path to a file, or as a name in the models folder (".safetensors" optional). */
export function resolveCheckpoint(name: string, modelsDir: string, cwd = process.cwd()): string {
  const asPath = path.resolve(cwd, name);
  if ((path.isAbsolute(name) || name.includes(path.sep) || name.includes('/')) && isFile(asPath))
    return asPath;
  for (const candidate of [name, `${name}.safetensors`]) {
    const inModels = path.resolve(modelsDir, candidate);
    if (inModels.startsWith(path.resolve(modelsDir) + path.sep) && isFile(inModels)) return inModels;
  }
  if (isFile(asPath)) return asPath;
  const available = listFiles(modelsDir, ['.safetensors']);
  throw new Error(
    `unknown checkpoint '${name}': not a file, and not in ${modelsDir} ` +
      `(available there: ${available.length ? available.join(', ') : 'none'})`,
  );
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** Loaded on use: it reaches the node packs, and with them the tensor stack. */
function samplerSettingsModule(): typeof import('../../nodes/eval/sampler-settings') {
  return require('../../nodes/eval/sampler-settings') as typeof import('../../nodes/eval/sampler-settings');
}

function limited(set: EvalSet, limit: number | undefined): EvalSet {
  if (limit === undefined) return set;
  return {
    ...set,
    t2i: set.t2i.slice(0, limit),
    caption: set.caption.slice(0, limit),
    vqa: set.vqa.slice(0, limit),
  };
}

/** Checks every flag and reads the set: all the errors a user can make, before any model is loaded. */
export function planEval(flags: EvalFlags, opts: { cwd?: string; modelsDir?: string } = {}): EvalPlan {
  const cwd = opts.cwd ?? process.cwd();
  const sections = parseSections(flags.sections);
  const limit = flags.limit === undefined ? undefined : positiveInt('--limit', flags.limit);
  const ablationSteps = parseStepsList(flags.stepsAblation);
  const seed = flags.seed === undefined ? 0 : positiveInt('--seed', flags.seed, 0);
  const batchSize = flags.batch === undefined ? 8 : positiveInt('--batch', flags.batch);
  const inference = flags.inference ?? 'auto';
  if (!INFERENCE.includes(inference))
    throw new Error(`--inference must be one of ${INFERENCE.join(', ')}, got '${inference}'`);
  if (flags.generate !== undefined && flags.set !== undefined)
    throw new Error('--set and --generate exclude each other: read a set, or generate one');
  if (flags.setSeed !== undefined && flags.generate === undefined)
    throw new Error('--set-seed only applies to --generate');
  let setFile: string;
  let full: EvalSet;
  if (flags.generate !== undefined) {
    const counts = parseGenerate(flags.generate);
    const setSeed = flags.setSeed === undefined ? 1 : positiveInt('--set-seed', flags.setSeed, 0);
    setFile = `generated (seed ${setSeed})`;
    full = validateEvalSet(
      generateEvalSet({ name: `shapes-generated-${setSeed}`, seed: setSeed, ...counts }),
      setFile,
    );
  } else {
    setFile = flags.set ? path.resolve(cwd, flags.set) : DEFAULT_SET;
    full = loadEvalSet(setFile);
  }
  const set = limited(full, limit);
  const empty = sections.filter((s) => set[s].length === 0);
  if (empty.length === sections.length) {
    throw new Error(`eval set ${setFile} has no ${sections.join(', ')} items to evaluate`);
  }
  const checkpoint = resolveCheckpoint(
    flags.ckpt ?? DEFAULT_CHECKPOINT,
    opts.modelsDir ?? defaultFolders().models,
    cwd,
  );
  const plan: EvalPlan = {
    setFile,
    set,
    notes: lintEvalSet(set),
    checkpoint,
    sections: sections.filter((s) => set[s].length > 0),
    ablationSteps,
    seed,
    batchSize,
    inference,
  };
  if (limit !== undefined) plan.limit = limit;
  if (flags.json) plan.json = path.resolve(cwd, flags.json);
  if (flags.images) plan.images = path.resolve(cwd, flags.images);
  if (flags.sampler) {
    const { overrideSamplerSettings, readSamplerSettings } = samplerSettingsModule();
    plan.settings = overrideSamplerSettings(readSamplerSettings(), flags.sampler);
    plan.sampler = flags.sampler;
  }
  return plan;
}

/** A bar per phase on a terminal; elsewhere (logs, pipes) a line per quarter. */
class PhaseProgress {
  private bar: cliProgress.SingleBar | null = null;
  private quarter = -1;
  private readonly tty: boolean;

  constructor(private readonly out: NodeJS.WriteStream) {
    this.tty = !!out.isTTY;
  }

  phase(label: string, total: number, index: number, phases: number): void {
    this.stop();
    this.out.write(`[${index + 1}/${phases}] ${label} (${total} items)\n`);
    this.quarter = -1;
    if (this.tty && total > 0) {
      this.bar = new cliProgress.SingleBar(
        {
          format: '  {bar} {value}/{total} ({percentage}%) eta {eta_formatted}',
          stream: this.out,
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(total, 0);
    }
  }

  item(done: number, total: number): void {
    if (this.bar) {
      this.bar.update(done);
      return;
    }
    const q = Math.floor((done / Math.max(1, total)) * 4);
    if (q !== this.quarter) {
      this.quarter = q;
      this.out.write(`  ${done}/${total}\n`);
    }
  }

  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}

/** What the JSON report carries besides issue 5's fields: the control, the ablation and the run. */
export function jsonExtras(result: EvaluateResult, plan: EvalPlan): Record<string, unknown> {
  const c = result.control?.t2i;
  return {
    t2i_control: c ? { overall: c.overall, categories: c.categories, n: c.n } : null,
    steps_ablation: result.ablation.map(({ steps, report }) => ({
      steps,
      vqa: report.vqa?.overall ?? null,
      caption_exact_scene: report.caption?.exact_scene ?? null,
      caption_attributes: report.caption?.attributes ?? null,
    })),
    run: {
      checkpoint: path.basename(plan.checkpoint),
      set_file: plan.setFile,
      limit: plan.limit ?? null,
      seed: plan.seed,
      sections: plan.sections,
      settings: { t2i: result.settings.t2i, caption: result.settings.caption, vqa: result.settings.vqa },
      seconds: Math.round(result.seconds * 10) / 10,
    },
  };
}

export function register(program: Command): void {
  program
    .command('eval')
    .description(
      'score a checkpoint on an eval set (text-to-image per GenEval-style category with its unconditional ' +
        'control, captioning, VQA, and the text-sampler steps ablation) with the shipped workflows’ sampler settings',
    )
    .option(
      '--set <file>',
      `eval set JSON (default: ${path.relative(process.cwd(), DEFAULT_SET) || DEFAULT_SET})`,
    )
    .option(
      '--generate <t2i,caption,vqa>',
      'score on a set generated from --set-seed with these item counts instead (e.g. 240,0,600: ' +
        'larger sets than the public one for tighter figures)',
    )
    .option('--set-seed <n>', 'seed of the --generate set (default 1)')
    .option('--ckpt <name>', 'checkpoint: a name in the models folder, or a path', DEFAULT_CHECKPOINT)
    .option('--json <out>', 'also write the report as JSON')
    .option('--images <dir>', 'save every text-to-image sample (and the control) as PNG, with an index.html')
    .option('--limit <n>', 'only the first n items of each section (quick runs)')
    .option('--sections <list>', 'sections to run: t2i,caption,vqa', 't2i,caption,vqa')
    .option('--steps-ablation <list>', 'text-sampler steps for the ablation table', DEFAULT_ABLATION)
    .option('--no-steps-ablation', 'skip the steps ablation')
    .option('--seed <s>', 'base seed of the per-item seeds', '0')
    .option('--batch <n>', 'items sampled per forward pass', '8')
    .option('--inference <engine>', 'runtime: auto, onnx or tfjs (as LoadCheckpoint)', 'auto')
    .option(
      '--sampler <overrides>',
      'override shipped sampler settings, e.g. t2i.cfg=2,vqa.temperature=1 (t2i.cfg, t2i.steps, t2i.shift, ' +
        'caption.steps, caption.temperature, vqa.steps, vqa.temperature)',
    )
    .option('-q, --quiet', 'no progress output')
    .action(async (flags: EvalFlags) => {
      const plan = planEval(flags);
      const err = process.stderr;
      const rt = require('../runtime') as typeof import('../runtime');
      const info = await rt.initRuntime();
      const { evaluateCheckpoint } =
        require('../../nodes/eval/evaluate') as typeof import('../../nodes/eval/evaluate');
      const { describeSettings, readSamplerSettings } = samplerSettingsModule();
      const settings = plan.settings ?? readSamplerSettings();
      const { formatReport, formatStepsAblation, reportJson } =
        require('../../nodes/eval/report') as typeof import('../../nodes/eval/report');
      const progress = flags.quiet ? null : new PhaseProgress(err);
      if (!flags.quiet) {
        const s = plan.set;
        err.write(`device: ${info.device ?? info.backend}\n`);
        err.write(
          `eval set ${s.name} (${setLabel(plan.setFile)}): ${s.t2i.length} t2i, ` +
            `${s.caption.length} caption, ${s.vqa.length} vqa items${plan.limit ? ` (--limit ${plan.limit})` : ''}\n`,
        );
        err.write(`checkpoint: ${path.relative(process.cwd(), plan.checkpoint)}\n`);
        for (const note of plan.notes) err.write(`note: ${note}\n`);
        err.write(`${describeSettings(settings)}\n`);
      }
      const controller = new AbortController();
      const onSigint = (): void => {
        err.write('\ninterrupting…\n');
        controller.abort();
      };
      process.once('SIGINT', onSigint);
      process.once('SIGTERM', onSigint);
      let code = 0;
      try {
        const images = plan.images && plan.sections.includes('t2i') ? new T2IImageWriter(plan.images) : null;
        const result = await evaluateCheckpoint({
          set: plan.set,
          checkpoint: plan.checkpoint,
          sections: plan.sections,
          ablationSteps: plan.ablationSteps,
          seed: plan.seed,
          batchSize: plan.batchSize,
          inference: plan.inference,
          settings,
          signal: controller.signal,
          onPhase: (label, total, i, n) => progress?.phase(label, total, i, n),
          onItem: (_r, done, total) => progress?.item(done, total),
          onImage: images ? (r, image, run) => images.add(r, image, run) : undefined,
        });
        progress?.stop();
        const out = [formatReport(result.report, { control: result.control ?? undefined })];
        if (result.ablation.length) out.push(formatStepsAblation(result.ablation));
        process.stdout.write(`${out.join('\n\n')}\n`);
        if (!flags.quiet) err.write(`evaluated in ${result.seconds.toFixed(1)} s\n`);
        if (plan.json) {
          fs.mkdirSync(path.dirname(plan.json), { recursive: true });
          fs.writeFileSync(plan.json, reportJson(result.report, jsonExtras(result, plan)));
          if (!flags.quiet) err.write(`report written to ${plan.json}\n`);
        }
        if (images) {
          const index = images.finish(`${plan.set.name}: ${path.basename(plan.checkpoint)}`);
          if (!flags.quiet)
            err.write(`text-to-image samples in ${path.relative(process.cwd(), index) || index}\n`);
        }
      } catch (e) {
        progress?.stop();
        if (controller.signal.aborted) {
          err.write('ddit: evaluation interrupted\n');
          code = 130;
        } else {
          err.write(`ddit: ${(e as Error).message}\n`);
          code = 1;
        }
      } finally {
        process.off('SIGINT', onSigint);
        process.off('SIGTERM', onSigint);
      }
      // Exit explicitly: tensor backends may keep worker threads alive.
      process.exit(code);
    });
}
