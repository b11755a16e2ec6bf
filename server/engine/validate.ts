import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import type { AnyNodeDefinition, ApiPrompt, InputSpec, Link } from './types';
import { NodeRegistry, isWidgetType } from './registry';
import { inputsJsonSchema } from './schema';

/** ComfyUI's per-input error shape. */
export interface InputError {
  type: string;
  message: string;
  details: string;
  extra_info: Record<string, unknown>;
}
export interface NodeErrors {
  class_type: string;
  dependent_outputs: string[];
  errors: InputError[];
}
export interface PromptError {
  type: string;
  message: string;
  details: string;
  extra_info: Record<string, unknown>;
}
export interface ValidationResult {
  ok: boolean;
  /** Present when the prompt as a whole cannot run. */
  error?: PromptError;
  node_errors: Record<string, NodeErrors>;
  /** Output node ids that passed validation and will run. */
  outputs: string[];
  /** The prompt with defaults filled in and constants coerced (what the executor runs). */
  prompt: ApiPrompt;
}

export function isLink(v: unknown): v is Link {
  return (
    Array.isArray(v) &&
    v.length === 2 &&
    typeof v[0] === 'string' &&
    typeof v[1] === 'number' &&
    Number.isInteger(v[1])
  );
}

/** Comma-separated unions and '*' as ComfyUI does: compatible when the type sets intersect. */
export function typesCompatible(produced: string, accepted: string): boolean {
  if (produced === '*' || accepted === '*') return true;
  const a = produced.split(',').map((s) => s.trim());
  const b = new Set(accepted.split(',').map((s) => s.trim()));
  return a.some((t) => b.has(t));
}

const ajv = new Ajv({ allErrors: true, coerceTypes: true, strict: false });
const validators = new Map<string, ValidateFunction>();
const staticValidators = new WeakMap<AnyNodeDefinition, ValidateFunction>();

function hasDynamicChoices(def: AnyNodeDefinition): boolean {
  return Object.values(def.inputs as Record<string, { choices?: unknown }>).some(
    (s) => typeof s.choices === 'function',
  );
}

function validatorFor(def: AnyNodeDefinition): ValidateFunction {
  const known = staticValidators.get(def);
  if (known) return known;
  if (!hasDynamicChoices(def)) {
    const v = ajv.compile(inputsJsonSchema(def));
    staticValidators.set(def, v);
    return v;
  }
  // Choices read from disk can change between runs: key the compiled schema by its content.
  const schema = inputsJsonSchema(def);
  const key = def.type + '\0' + JSON.stringify(schema);
  let v = validators.get(key);
  if (!v) {
    v = ajv.compile(schema);
    if (validators.size > 2000) validators.clear();
    validators.set(key, v);
  }
  return v;
}

function where(id: string, classType: string, input?: string): string {
  return `Node ${id} (${classType})` + (input ? `, input '${input}'` : '');
}

function ajvToInputError(
  e: ErrorObject,
  id: string,
  def: AnyNodeDefinition,
  value: Record<string, unknown>,
): InputError {
  const name = e.instancePath.replace(/^\//, '');
  const spec = def.inputs[name] as InputSpec | undefined;
  const received = value[name];
  const extra = { input_name: name, input_config: spec, received_value: received };
  const at = where(id, def.type, name);
  switch (e.keyword) {
    case 'minimum':
      return {
        type: 'value_smaller_than_min',
        message: `${at}: value ${JSON.stringify(received)} smaller than min of ${e.params.limit}`,
        details: name,
        extra_info: extra,
      };
    case 'maximum':
      return {
        type: 'value_bigger_than_max',
        message: `${at}: value ${JSON.stringify(received)} bigger than max of ${e.params.limit}`,
        details: name,
        extra_info: extra,
      };
    case 'enum': {
      const allowed = (e.params.allowedValues as unknown[]) ?? [];
      const shown = allowed.length > 20 ? `${allowed.length} choices` : JSON.stringify(allowed);
      return {
        type: 'value_not_in_list',
        message: `${at}: value ${JSON.stringify(received)} not in list ${shown}`,
        details: name,
        extra_info: extra,
      };
    }
    case 'not':
      return {
        type: 'value_not_in_list',
        message: `${at}: value ${JSON.stringify(received)} not in list (there are no choices: is the folder empty?)`,
        details: name,
        extra_info: extra,
      };
    default:
      return {
        type: 'invalid_input_type',
        message: `${at}: ${JSON.stringify(received)} is not a valid ${spec?.type ?? 'value'} (${e.message})`,
        details: name,
        extra_info: extra,
      };
  }
}

function outputType(def: AnyNodeDefinition, slot: number): string | undefined {
  const outs = Object.values(def.outputs) as { type: string }[];
  return outs[slot]?.type;
}

/**
 * Validates an API-format prompt the way ComfyUI does: every output node (or the requested targets)
 * is checked through its links; outputs whose ancestry fails are dropped, and the prompt fails only
 * when no output remains. Errors are attributed to the node that owns them.
 */
export function validatePrompt(
  input: unknown,
  registry: NodeRegistry,
  opts: { targets?: string[] } = {},
): ValidationResult {
  const empty = (error: PromptError, node_errors: Record<string, NodeErrors> = {}): ValidationResult => ({
    ok: false,
    error,
    node_errors,
    outputs: [],
    prompt: {},
  });
  if (!input || typeof input !== 'object' || Array.isArray(input)) {
    return empty({
      type: 'no_prompt',
      message: 'No prompt provided',
      details: 'the prompt must be an object of nodes',
      extra_info: {},
    });
  }
  const raw = input as Record<string, unknown>;
  const prompt: ApiPrompt = {};
  // Structural checks first: every node must name a known class.
  for (const [id, node] of Object.entries(raw)) {
    const n = node as { class_type?: unknown; inputs?: unknown } | null;
    if (!n || typeof n !== 'object' || typeof n.class_type !== 'string') {
      return empty({
        type: 'invalid_prompt',
        message: `Cannot execute because node ${id} does not have a class_type property.`,
        details: `Node ID '#${id}'`,
        extra_info: {},
      });
    }
    if (!registry.has(n.class_type)) {
      return empty({
        type: 'invalid_prompt',
        message: `Cannot execute because node ${id} uses unknown node type '${n.class_type}'.`,
        details: `Node ID '#${id}'`,
        extra_info: { class_type: n.class_type },
      });
    }
    const inputs = n.inputs && typeof n.inputs === 'object' && !Array.isArray(n.inputs) ? n.inputs : {};
    prompt[id] = { class_type: n.class_type, inputs: { ...(inputs as Record<string, unknown>) } };
    const meta = (node as { _meta?: { title?: string } })._meta;
    if (meta) prompt[id]._meta = meta;
  }

  let outputs = Object.keys(prompt).filter((id) => registry.get(prompt[id].class_type)!.output);
  if (opts.targets && opts.targets.length) {
    const missing = opts.targets.filter((t) => !prompt[t]);
    if (missing.length) {
      return empty({
        type: 'invalid_prompt',
        message: `Requested output nodes not in the prompt: ${missing.join(', ')}`,
        details: '',
        extra_info: { missing },
      });
    }
    outputs = [...opts.targets];
  }
  if (outputs.length === 0) {
    return empty({
      type: 'prompt_no_outputs',
      message: 'Prompt has no outputs',
      details: '',
      extra_info: {},
    });
  }

  const nodeErrors: Record<string, InputError[]> = {};
  const validated = new Map<string, boolean>();
  const visiting = new Set<string>();

  const checkNode = (id: string): boolean => {
    const known = validated.get(id);
    if (known !== undefined) return known;
    const node = prompt[id];
    const def = registry.get(node.class_type)!;
    const errors: InputError[] = [];
    if (visiting.has(id)) {
      errors.push({
        type: 'dependency_cycle',
        message: `${where(id, def.type)}: the graph has a cycle through this node`,
        details: '',
        extra_info: {},
      });
      (nodeErrors[id] ??= []).push(...errors);
      return false;
    }
    visiting.add(id);
    let ok = true;
    const constants: Record<string, unknown> = {};
    for (const [name, spec] of Object.entries(def.inputs) as [string, InputSpec][]) {
      const value = node.inputs[name];
      const at = where(id, def.type, name);
      if (value === undefined || value === null) {
        // Only an explicit default stands in for a missing value (ComfyUI requires every widget).
        const dflt = isWidgetType(spec.type) ? (spec as { default?: unknown }).default : undefined;
        if (!spec.optional && dflt === undefined) {
          errors.push({
            type: 'required_input_missing',
            message: `${at}: required input is missing`,
            details: name,
            extra_info: { input_name: name },
          });
        } else if (dflt !== undefined && !spec.optional) {
          node.inputs[name] = dflt;
          constants[name] = dflt;
        } else {
          delete node.inputs[name];
        }
        continue;
      }
      if (Array.isArray(value)) {
        if (!isLink(value)) {
          errors.push({
            type: 'bad_linked_input',
            message: `${at}: bad linked input, must be a length-2 list of [node id (string), output index (integer)]`,
            details: name,
            extra_info: { input_name: name, received_value: value },
          });
          continue;
        }
      }
      if (isLink(value)) {
        const [src, slot] = value;
        const srcNode = prompt[src];
        if (!srcNode) {
          errors.push({
            type: 'bad_linked_input',
            message: `${at}: linked to node ${src}, which is not in the prompt`,
            details: name,
            extra_info: { input_name: name, received_value: value },
          });
          continue;
        }
        const srcDef = registry.get(srcNode.class_type)!;
        const produced = outputType(srcDef, slot);
        if (produced === undefined) {
          errors.push({
            type: 'bad_linked_input',
            message: `${at}: node ${src} (${srcDef.type}) has no output ${slot}`,
            details: name,
            extra_info: { input_name: name, received_value: value },
          });
          continue;
        }
        const accepted = spec.type === 'COMBO' ? 'COMBO,STRING' : spec.type;
        if (!typesCompatible(produced, accepted)) {
          errors.push({
            type: 'return_type_mismatch',
            message: `${at}: expects ${spec.type} but node ${src} (${srcDef.type}) output ${slot} is ${produced}`,
            details: name,
            extra_info: { input_name: name, received_type: produced, linked_node: value },
          });
          continue;
        }
        if (!checkNode(src)) ok = false;
        continue;
      }
      if (!isWidgetType(spec.type)) {
        errors.push({
          type: 'bad_linked_input',
          message: `${at}: ${spec.type} inputs must be linked to another node's output`,
          details: name,
          extra_info: { input_name: name, received_value: value },
        });
        continue;
      }
      if (spec.type === 'STRING' && typeof value === 'object') {
        const v = (value as { __value__?: unknown }).__value__;
        node.inputs[name] = v !== undefined ? v : value;
      }
      constants[name] = node.inputs[name];
    }
    for (const name of Object.keys(node.inputs)) {
      if (!(name in def.inputs)) delete node.inputs[name];
    }
    const validate = validatorFor(def);
    if (!validate(constants)) {
      for (const e of validate.errors ?? []) errors.push(ajvToInputError(e, id, def, node.inputs));
    } else {
      Object.assign(node.inputs, constants); // ajv coerced "5" → 5 in place
      if (def.validate) {
        let msg: string | undefined;
        try {
          msg = def.validate(constants);
        } catch (err) {
          msg = `validation threw: ${(err as Error).message}`;
        }
        if (msg) {
          errors.push({
            type: 'custom_validation_failed',
            message: `${where(id, def.type)}: ${msg}`,
            details: msg,
            extra_info: {},
          });
        }
      }
    }
    visiting.delete(id);
    if (errors.length) {
      (nodeErrors[id] ??= []).push(...errors);
      ok = false;
    }
    validated.set(id, ok);
    return ok;
  };

  const good: string[] = [];
  const failedOutputs: string[] = [];
  const dependents = new Map<string, Set<string>>();
  for (const out of outputs) {
    const before = new Set(Object.keys(nodeErrors));
    const okOut = checkNode(out);
    (okOut ? good : failedOutputs).push(out);
    for (const id of Object.keys(nodeErrors)) {
      if (!before.has(id) || !okOut) (dependents.get(id) ?? dependents.set(id, new Set()).get(id)!).add(out);
    }
  }
  const node_errors: Record<string, NodeErrors> = {};
  for (const [id, errs] of Object.entries(nodeErrors)) {
    node_errors[id] = {
      class_type: prompt[id].class_type,
      dependent_outputs: [...(dependents.get(id) ?? [])],
      errors: errs,
    };
  }
  if (good.length === 0) {
    const first = Object.values(node_errors)[0]?.errors[0];
    return {
      ok: false,
      error: {
        type: 'prompt_outputs_failed_validation',
        message: 'Prompt outputs failed validation' + (first ? `: ${first.message}` : ''),
        details: failedOutputs.join(', '),
        extra_info: {},
      },
      node_errors,
      outputs: [],
      prompt,
    };
  }
  return { ok: true, node_errors, outputs: good, prompt };
}

/** One line per error, for the CLI and logs. */
export function formatValidation(result: ValidationResult): string {
  const lines: string[] = [];
  if (result.error) lines.push(`${result.error.type}: ${result.error.message}`);
  for (const ne of Object.values(result.node_errors))
    for (const e of ne.errors) lines.push(`  - ${e.message}`);
  return lines.join('\n');
}
