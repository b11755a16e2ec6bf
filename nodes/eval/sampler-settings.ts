/**
 * The sampler settings the evaluation uses, read from the shipped workflows (text-to-image.json, caption.json,
 * vqa.json) when it runs, so that "the default settings" the targets are stated for are always the ones a
 * user gets. An input a workflow leaves out takes its node's default, as the engine would.
 */
import * as fs from 'fs';
import * as path from 'path';
import { toApiPrompt } from '../../server/engine/convert';
import type { NodeRegistry } from '../../server/engine/registry';
import type { AnyNodeDefinition, ApiNode, ApiPrompt } from '../../server/engine/types';
import { AnswerQuestion, Caption, CFGGuider, FlowMatchSampler, FlowMatchScheduler } from '../sampling/nodes';
import { PROMPT_READER_NAMES, type PromptReader } from '../sampling/prompt-readers';
import { QUESTION_READER_NAMES, type QuestionReader } from '../sampling/question-readers';
import type { SelfCheckSettings } from '../sampling/self-check';
import { SelfCheckSelect } from '../sampling/self-check-node';
import { TextEncode } from '../text/nodes';
import { EmptyLatent } from '../vae/nodes';

export const WORKFLOWS_DIR = path.resolve(__dirname, '..', '..', 'workflows');

export interface TextToImageSettings {
  /** Token length of the prompt encoding (TextEncode length). */
  length: number;
  /** The negative prompt and its length; absent when the guider has none (then cfg must be 1). */
  negative?: { text: string; length: number };
  cfg: number;
  steps: number;
  shift: number;
  denoise: number;
  width: number;
  height: number;
  /**
   * Candidates drawn per prompt (EmptyLatent batch_size) of which a SelfCheckSelect keeps one; 1 when the
   * workflow has no SelfCheckSelect (then the first image of a batch is the sample).
   */
  candidates: number;
  /** The SelfCheckSelect's settings, when the workflow has one. */
  selfCheck?: SelfCheckSettings & { reader: PromptReader };
}

export interface CaptionSettings {
  prompt: string;
  length: number;
  steps: number;
  temperature: number;
}

export interface VqaSettings {
  promptFormat: string;
  vizwiz: boolean;
  length: number;
  steps: number;
  temperature: number;
  /** Questions this reader restates as captions are answered by reading them, in this caption format. */
  reader: QuestionReader;
  captionPrompt: string;
  captionLength: number;
}

export interface SamplerSettings {
  t2i: TextToImageSettings;
  caption: CaptionSettings;
  vqa: VqaSettings;
  /** The workflow file each part was read from. */
  sources: { t2i: string; caption: string; vqa: string };
}

type Found = [string, ApiNode];

class WorkflowReader {
  constructor(
    readonly file: string,
    readonly prompt: ApiPrompt,
  ) {}

  private where(id: string): string {
    const n = this.prompt[id];
    return `${path.basename(this.file)} node #${id} (${n.class_type})`;
  }

  /** The first node of a type (ids in numeric order). */
  node(def: AnyNodeDefinition): Found {
    const found = this.maybeNode(def);
    if (!found) throw new Error(`${path.basename(this.file)} has no ${def.type} node`);
    return found;
  }

  maybeNode(def: AnyNodeDefinition): Found | undefined {
    const ids = Object.keys(this.prompt).sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
    const id = ids.find((i) => this.prompt[i].class_type === def.type);
    return id === undefined ? undefined : [id, this.prompt[id]];
  }

  /** The node an input is linked to, which must be of type def; undefined when the input is absent. */
  linked([id, node]: Found, input: string, def: AnyNodeDefinition): Found | undefined {
    const v = node.inputs[input];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || typeof v[0] !== 'string' || !this.prompt[v[0]]) {
      throw new Error(`${this.where(id)}: input '${input}' should be linked to a ${def.type} node`);
    }
    const target = this.prompt[v[0]];
    if (target.class_type !== def.type) {
      throw new Error(
        `${this.where(id)}: input '${input}' comes from a ${target.class_type}, expected ${def.type}`,
      );
    }
    return [v[0], target];
  }

  /** A widget value (or its node's default), checked for its type. */
  value<T extends number | string | boolean>(
    [id, node]: Found,
    def: AnyNodeDefinition,
    input: string,
    kind: 'number' | 'string' | 'boolean',
  ): T {
    let v = node.inputs[input];
    if (v === undefined) v = (def.inputs[input] as { default?: unknown } | undefined)?.default;
    if (Array.isArray(v)) {
      throw new Error(
        `${this.where(id)}: input '${input}' is linked; the evaluation reads it as a widget value`,
      );
    }
    if (typeof v !== kind) throw new Error(`${this.where(id)}: input '${input}' must be a ${kind}`);
    return v as T;
  }

  /** A COMBO widget value (or its node's default), which must be one of the choices. */
  choice<T extends string>(found: Found, def: AnyNodeDefinition, input: string, choices: readonly T[]): T {
    const v = this.value<string>(found, def, input, 'string');
    if (!(choices as readonly string[]).includes(v))
      throw new Error(
        `${this.where(found[0])}: input '${input}' is '${v}', not one of ${choices.join(', ')}`,
      );
    return v as T;
  }
}

function readWorkflow(file: string, registry?: NodeRegistry): WorkflowReader {
  let doc: unknown;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read the sampler settings from ${file}: ${(e as Error).message}`);
  }
  const isApi =
    doc !== null &&
    typeof doc === 'object' &&
    !Array.isArray((doc as { nodes?: unknown }).nodes) &&
    Object.values(doc).every((n) => typeof (n as ApiNode | null)?.class_type === 'string');
  if (!isApi && !registry) {
    throw new Error(`${file} is not an API-format workflow (editor workflows need the node registry)`);
  }
  return new WorkflowReader(file, isApi ? (doc as ApiPrompt) : toApiPrompt(doc, registry!));
}

export function textToImageSettings(file: string, registry?: NodeRegistry): TextToImageSettings {
  const w = readWorkflow(file, registry);
  const sampler = w.node(FlowMatchSampler);
  const guider = w.linked(sampler, 'guider', CFGGuider);
  const scheduler = w.linked(sampler, 'sigmas', FlowMatchScheduler);
  const latent = w.linked(sampler, 'latent', EmptyLatent);
  if (!guider || !scheduler || !latent) {
    throw new Error(
      `${path.basename(file)}: the FlowMatchSampler must take its guider, sigmas and latent from CFGGuider, ` +
        'FlowMatchScheduler and EmptyLatent nodes',
    );
  }
  const positive = w.linked(guider, 'positive', TextEncode);
  if (!positive) throw new Error(`${path.basename(file)}: the CFGGuider has no positive prompt`);
  const negative = w.linked(guider, 'negative', TextEncode);
  const s: TextToImageSettings = {
    length: w.value(positive, TextEncode, 'length', 'number'),
    cfg: w.value(guider, CFGGuider, 'cfg', 'number'),
    steps: w.value(scheduler, FlowMatchScheduler, 'steps', 'number'),
    shift: w.value(scheduler, FlowMatchScheduler, 'shift', 'number'),
    denoise: w.value(scheduler, FlowMatchScheduler, 'denoise', 'number'),
    width: w.value(latent, EmptyLatent, 'width', 'number'),
    height: w.value(latent, EmptyLatent, 'height', 'number'),
    candidates: 1,
  };
  const check = w.maybeNode(SelfCheckSelect);
  if (check) {
    s.candidates = w.value(latent, EmptyLatent, 'batch_size', 'number');
    s.selfCheck = {
      reader: w.choice(check, SelfCheckSelect, 'reader', PROMPT_READER_NAMES),
      promptFormat: w.value(check, SelfCheckSelect, 'prompt_format', 'string'),
      vizwiz: false,
      answerLength: w.value(check, SelfCheckSelect, 'answer_length', 'number'),
      captionPrompt: w.value(check, SelfCheckSelect, 'caption_prompt', 'string'),
      captionLength: w.value(check, SelfCheckSelect, 'caption_length', 'number'),
      captionSteps: w.value(check, SelfCheckSelect, 'caption_steps', 'number'),
      captionTemperature: 0,
      captionWeight: w.value(check, SelfCheckSelect, 'caption_weight', 'number'),
    };
  }
  if (negative) {
    s.negative = {
      text: w.value(negative, TextEncode, 'text', 'string'),
      length: w.value(negative, TextEncode, 'length', 'number'),
    };
  }
  return s;
}

export function captionSettings(file: string, registry?: NodeRegistry): CaptionSettings {
  const w = readWorkflow(file, registry);
  const node = w.node(Caption);
  return {
    prompt: w.value(node, Caption, 'prompt', 'string'),
    length: w.value(node, Caption, 'length', 'number'),
    steps: w.value(node, Caption, 'steps', 'number'),
    temperature: w.value(node, Caption, 'temperature', 'number'),
  };
}

export function vqaSettings(file: string, registry?: NodeRegistry): VqaSettings {
  const w = readWorkflow(file, registry);
  const node = w.node(AnswerQuestion);
  return {
    promptFormat: w.value(node, AnswerQuestion, 'prompt_format', 'string'),
    vizwiz: w.value(node, AnswerQuestion, 'vizwiz', 'boolean'),
    length: w.value(node, AnswerQuestion, 'length', 'number'),
    steps: w.value(node, AnswerQuestion, 'steps', 'number'),
    temperature: w.value(node, AnswerQuestion, 'temperature', 'number'),
    reader: w.choice(node, AnswerQuestion, 'reader', QUESTION_READER_NAMES),
    captionPrompt: w.value(node, AnswerQuestion, 'caption_prompt', 'string'),
    captionLength: w.value(node, AnswerQuestion, 'caption_length', 'number'),
  };
}

/** All three from a workflows folder (default: the shipped one). */
export function readSamplerSettings(dir = WORKFLOWS_DIR, registry?: NodeRegistry): SamplerSettings {
  const sources = {
    t2i: path.join(dir, 'text-to-image.json'),
    caption: path.join(dir, 'caption.json'),
    vqa: path.join(dir, 'vqa.json'),
  };
  return {
    t2i: textToImageSettings(sources.t2i, registry),
    caption: captionSettings(sources.caption, registry),
    vqa: vqaSettings(sources.vqa, registry),
    sources,
  };
}

/** One line per part, for the command's header. */
export function describeSettings(s: SamplerSettings): string {
  const t = s.t2i;
  return [
    `text-to-image: Euler flow sampler, ${t.steps} steps, shift ${t.shift}, CFG ${t.cfg}` +
      `${t.negative ? ` (negative "${t.negative.text}")` : ''}, ${t.width}×${t.height}` +
      `${t.selfCheck && t.candidates > 1 ? `, best of ${t.candidates} by self-check (${t.selfCheck.reader} reader, caption weight ${t.selfCheck.captionWeight})` : ''}` +
      ` (${path.basename(s.sources.t2i)})`,
    `caption: masked sampler, ${s.caption.steps} steps, temperature ${s.caption.temperature}, length ${s.caption.length}, prompt ` +
      `${JSON.stringify(s.caption.prompt)} (${path.basename(s.sources.caption)})`,
    `vqa: masked sampler, ${s.vqa.steps} steps, temperature ${s.vqa.temperature}, length ${s.vqa.length}, prompt ` +
      `${JSON.stringify(s.vqa.promptFormat)}${s.vqa.vizwiz ? ' + VizWiz hint' : ''}` +
      `${s.vqa.reader !== 'none' ? `, questions the ${s.vqa.reader} reader restates read as caption in-fills` : ''}` +
      ` (${path.basename(s.sources.vqa)})`,
  ].join('\n');
}

/** The numeric settings `--sampler` may override, and the node input each comes from (its range applies). */
const OVERRIDABLE: Record<string, [AnyNodeDefinition, string]> = {
  't2i.cfg': [CFGGuider, 'cfg'],
  't2i.steps': [FlowMatchScheduler, 'steps'],
  't2i.shift': [FlowMatchScheduler, 'shift'],
  't2i.candidates': [EmptyLatent, 'batch_size'],
  'caption.steps': [Caption, 'steps'],
  'caption.temperature': [Caption, 'temperature'],
  'vqa.steps': [AnswerQuestion, 'steps'],
  'vqa.temperature': [AnswerQuestion, 'temperature'],
};

/**
 * The settings with `key=value` overrides applied ("t2i.cfg=2,t2i.steps=40"), for sweeps against the shipped
 * defaults. Unknown keys and values outside a setting's range are errors naming them.
 */
export function overrideSamplerSettings(s: SamplerSettings, spec: string): SamplerSettings {
  const out: SamplerSettings = {
    ...s,
    t2i: { ...s.t2i },
    caption: { ...s.caption },
    vqa: { ...s.vqa },
  };
  for (const part of spec
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq).trim();
    const source = OVERRIDABLE[key];
    if (!source)
      throw new Error(`--sampler: unknown setting '${key}' (one of ${Object.keys(OVERRIDABLE).join(', ')})`);
    const input = source[0].inputs[source[1]] as { type: string; min: number; max: number };
    const range = { min: input.min, max: input.max, int: input.type === 'INT' };
    const text = eq < 0 ? '' : part.slice(eq + 1).trim();
    const v = Number(text);
    if (
      text === '' ||
      !Number.isFinite(v) ||
      (range.int && !Number.isInteger(v)) ||
      v < range.min ||
      v > range.max
    )
      throw new Error(
        `--sampler: ${key} must be ${range.int ? 'an integer' : 'a number'} in [${range.min}, ${range.max}], got '${text}'`,
      );
    const [section, field] = key.split('.') as ['t2i' | 'caption' | 'vqa', string];
    (out[section] as unknown as Record<string, number>)[field] = v;
  }
  if (out.t2i.candidates > 1 && !out.t2i.selfCheck)
    throw new Error(
      '--sampler: t2i.candidates above 1 needs a SelfCheckSelect in the text-to-image workflow',
    );
  if (out.t2i.cfg !== 1 && !out.t2i.negative)
    throw new Error(
      '--sampler: t2i.cfg other than 1 needs a negative prompt, which the text-to-image workflow lacks',
    );
  return out;
}
