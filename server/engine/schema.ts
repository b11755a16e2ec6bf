import type { AnyNodeDefinition, ComboInput, InputSpec, WidgetInput } from './types';
import { isWidgetType } from './registry';

/** ComfyUI's `/object_info` entry for one node type (V1 shape, which every client reads). */
export interface ObjectInfo {
  input: {
    required: Record<string, unknown[]>;
    optional: Record<string, unknown[]>;
    hidden?: Record<string, string>;
  };
  input_order: { required: string[]; optional: string[] };
  output: string[];
  output_is_list: boolean[];
  output_name: string[];
  output_tooltips: (string | undefined)[];
  name: string;
  display_name: string;
  description: string;
  python_module: string;
  category: string;
  output_node: boolean;
  volatile?: boolean;
  deprecated?: boolean;
  experimental?: boolean;
}

export function comboChoices(spec: ComboInput): string[] {
  return typeof spec.choices === 'function' ? spec.choices() : [...spec.choices];
}

function inputOptions(input: InputSpec): Record<string, unknown> {
  const spec = input as WidgetInput;
  const o: Record<string, unknown> = {};
  const s = spec as unknown as Record<string, unknown>;
  for (const k of [
    'default',
    'min',
    'max',
    'step',
    'round',
    'multiline',
    'placeholder',
    'tooltip',
    'forceInput',
    'display',
  ]) {
    if (s[k] !== undefined) o[k] = s[k];
  }
  if (spec.type === 'BOOLEAN') {
    if (spec.labelOn) o.label_on = spec.labelOn;
    if (spec.labelOff) o.label_off = spec.labelOff;
  }
  if (spec.type === 'INT' && spec.control) {
    o.control_after_generate = spec.control === 'fixed' ? true : spec.control;
  }
  if (spec.type === 'COMBO' && spec.upload === 'image') o.image_upload = true;
  return o;
}

/** Default value of a widget input, as the editor and the validator use it. */
export function widgetDefault(input: InputSpec): unknown {
  if (!isWidgetType(input.type)) return undefined;
  const spec = input as WidgetInput;
  switch (spec.type) {
    case 'INT':
    case 'FLOAT':
      return spec.default ?? (spec.min !== undefined && spec.min > 0 ? spec.min : 0);
    case 'STRING':
      return spec.default ?? '';
    case 'BOOLEAN':
      return spec.default ?? false;
    case 'COMBO':
      return spec.default ?? comboChoices(spec)[0];
    default:
      return undefined;
  }
}

export function toObjectInfo(def: AnyNodeDefinition): ObjectInfo {
  const required: Record<string, unknown[]> = {};
  const optional: Record<string, unknown[]> = {};
  for (const [name, spec] of Object.entries(def.inputs) as [string, InputSpec][]) {
    const opts = inputOptions(spec);
    const entry = spec.type === 'COMBO' ? [comboChoices(spec as ComboInput), opts] : [spec.type, opts];
    (spec.optional ? optional : required)[name] = entry;
  }
  const outs = Object.entries(def.outputs) as [string, { type: string; name?: string; tooltip?: string }][];
  const info: ObjectInfo = {
    input: { required, optional },
    input_order: { required: Object.keys(required), optional: Object.keys(optional) },
    output: outs.map(([, o]) => o.type),
    output_is_list: outs.map(() => false),
    output_name: outs.map(([k, o]) => o.name ?? k),
    output_tooltips: outs.map(([, o]) => o.tooltip),
    name: def.type,
    display_name: def.displayName ?? def.type,
    description: def.description,
    python_module: def.source ?? 'unknown',
    category: def.category,
    output_node: !!def.output,
  };
  if (def.output) info.input.hidden = { prompt: 'PROMPT', extra_pnginfo: 'EXTRA_PNGINFO' };
  if (def.volatile) info.volatile = true;
  if (def.deprecated) info.deprecated = true;
  if (def.experimental) info.experimental = true;
  return info;
}

export type JsonSchema = Record<string, unknown>;

/** JSON Schema for the constant (widget) inputs of a node; ajv validates prompts against it. */
export function inputsJsonSchema(def: AnyNodeDefinition): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const [name, input] of Object.entries(def.inputs) as [string, InputSpec][]) {
    if (!isWidgetType(input.type)) continue;
    const spec = input as WidgetInput;
    switch (spec.type) {
      case 'INT':
      case 'FLOAT': {
        const p: JsonSchema = { type: spec.type === 'INT' ? 'integer' : 'number' };
        if (spec.min !== undefined) p.minimum = spec.min;
        if (spec.max !== undefined) p.maximum = spec.max;
        properties[name] = p;
        break;
      }
      case 'STRING':
        properties[name] = { type: 'string' };
        break;
      case 'BOOLEAN':
        properties[name] = { type: 'boolean' };
        break;
      case 'COMBO':
        {
          const choices = comboChoices(spec as ComboInput);
          // JSON Schema forbids an empty enum (an empty model or input folder): nothing is accepted then.
          properties[name] = choices.length ? { type: 'string', enum: choices } : { type: 'string', not: {} };
        }
        break;
    }
  }
  return { type: 'object', properties };
}
