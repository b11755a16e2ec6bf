/**
 * Reads /object_info entries into what the canvas builds a node from: sockets, widgets with their
 * limits, outputs. Pure (no DOM, no litegraph), so the rules are unit-tested.
 */
import type { InputEntry, ObjectInfo } from './protocol';

export type WidgetKind = 'INT' | 'FLOAT' | 'STRING' | 'BOOLEAN' | 'COMBO';
export type ControlMode = 'fixed' | 'increment' | 'decrement' | 'randomize';
export const CONTROL_MODES: readonly ControlMode[] = ['fixed', 'increment', 'decrement', 'randomize'];

export interface WidgetSpec {
  name: string;
  kind: WidgetKind;
  default: unknown;
  optional: boolean;
  min?: number;
  max?: number;
  step?: number;
  round?: number;
  multiline?: boolean;
  placeholder?: string;
  choices?: string[];
  /** ComfyUI's control_after_generate: how the value changes after each queue. */
  control?: ControlMode;
  labelOn?: string;
  labelOff?: string;
  tooltip?: string;
  /** The combo lists files that can be uploaded (LoadImage). */
  imageUpload?: boolean;
  display?: string;
}

export interface SocketSpec {
  name: string;
  type: string;
  optional: boolean;
  tooltip?: string;
}

export interface OutputSpec {
  name: string;
  type: string;
  tooltip?: string;
}

export interface NodeSpec {
  type: string;
  title: string;
  category: string;
  description: string;
  outputNode: boolean;
  deprecated: boolean;
  experimental: boolean;
  /** Inputs that are only sockets, in declaration order. */
  sockets: SocketSpec[];
  /** Inputs that are widgets (each can also take a link of its type), in declaration order. */
  widgets: WidgetSpec[];
  outputs: OutputSpec[];
}

const WIDGET_KINDS = new Set<string>(['INT', 'FLOAT', 'STRING', 'BOOLEAN', 'COMBO']);

/** The socket type a widget accepts a link of (a combo takes strings too, as the server allows). */
export function widgetSocketType(w: WidgetSpec): string {
  return w.kind === 'COMBO' ? 'COMBO,STRING' : w.kind;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function controlMode(v: unknown): ControlMode | undefined {
  // Our server sends `true` for "fixed" and the mode name otherwise.
  if (v === true) return 'fixed';
  return typeof v === 'string' && (CONTROL_MODES as readonly string[]).includes(v)
    ? (v as ControlMode)
    : undefined;
}

function defaultFor(w: Omit<WidgetSpec, 'default'>, given: unknown): unknown {
  switch (w.kind) {
    case 'INT':
    case 'FLOAT': {
      const d = num(given);
      if (d !== undefined) return d;
      return w.min !== undefined && w.min > 0 ? w.min : 0;
    }
    case 'STRING':
      return typeof given === 'string' ? given : '';
    case 'BOOLEAN':
      return typeof given === 'boolean' ? given : false;
    case 'COMBO':
      return typeof given === 'string' && w.choices?.includes(given) ? given : (w.choices?.[0] ?? '');
  }
}

function readInput(
  name: string,
  entry: InputEntry,
  optional: boolean,
): { widget: WidgetSpec } | { socket: SocketSpec } {
  const [head, rawOpts] = entry;
  const o = (rawOpts ?? {}) as Record<string, unknown>;
  const tooltip = typeof o.tooltip === 'string' ? o.tooltip : undefined;
  let kind: string;
  let choices: string[] | undefined;
  if (Array.isArray(head)) {
    kind = 'COMBO';
    choices = head.map(String);
  } else if (head === 'COMBO') {
    kind = 'COMBO';
    choices = Array.isArray(o.options) ? o.options.map(String) : [];
  } else {
    kind = String(head);
  }
  if (!WIDGET_KINDS.has(kind) || o.forceInput === true) {
    return { socket: { name, type: kind, optional, tooltip } };
  }
  const base: Omit<WidgetSpec, 'default'> = {
    name,
    kind: kind as WidgetKind,
    optional,
    tooltip,
    min: num(o.min),
    max: num(o.max),
    step: num(o.step),
    round: num(o.round),
    multiline: o.multiline === true,
    placeholder: typeof o.placeholder === 'string' ? o.placeholder : undefined,
    choices,
    control: kind === 'INT' ? controlMode(o.control_after_generate) : undefined,
    labelOn: typeof o.label_on === 'string' ? o.label_on : undefined,
    labelOff: typeof o.label_off === 'string' ? o.label_off : undefined,
    imageUpload: o.image_upload === true,
    display: typeof o.display === 'string' ? o.display : undefined,
  };
  return { widget: { ...base, default: defaultFor(base, o.default) } };
}

function ordered(names: Record<string, unknown> | undefined, order: string[] | undefined): string[] {
  const keys = Object.keys(names ?? {});
  if (!order) return keys;
  return [...order.filter((k) => keys.includes(k)), ...keys.filter((k) => !order.includes(k))];
}

/** One /object_info entry → the node's sockets, widgets and outputs. */
export function interpretNodeDef(info: ObjectInfo): NodeSpec {
  const sockets: SocketSpec[] = [];
  const widgets: WidgetSpec[] = [];
  for (const optional of [false, true]) {
    const group = optional ? info.input?.optional : info.input?.required;
    const order = optional ? info.input_order?.optional : info.input_order?.required;
    for (const name of ordered(group, order)) {
      const r = readInput(name, group![name], optional);
      if ('widget' in r) widgets.push(r.widget);
      else sockets.push(r.socket);
    }
  }
  const outputs: OutputSpec[] = (info.output ?? []).map((type, i) => ({
    type: String(type),
    name: info.output_name?.[i] ?? String(type),
    tooltip: info.output_tooltips?.[i] ?? undefined,
  }));
  return {
    type: info.name,
    title: info.display_name || info.name,
    category: info.category ?? '',
    description: info.description ?? '',
    outputNode: !!info.output_node,
    deprecated: !!info.deprecated,
    experimental: !!info.experimental,
    sockets,
    widgets,
    outputs,
  };
}

/** Clamps and rounds a number the way a widget with these limits stores it. */
export function clampWidgetNumber(w: WidgetSpec, v: number): number {
  let x = Number.isFinite(v) ? v : Number(w.default) || 0;
  if (w.min !== undefined) x = Math.max(w.min, x);
  if (w.max !== undefined) x = Math.min(w.max, x);
  if (w.kind === 'INT') x = Math.round(x);
  // toPrecision drops the binary noise of the multiplication (1e-4 would come back as 9.999…e-5).
  else if (w.round && w.round > 0) x = Number((Math.round(x / w.round) * w.round).toPrecision(12));
  return x;
}

/**
 * The value a seed-like widget takes after a queue (ComfyUI's control_after_generate).
 * `random` returns a number in [0, 1).
 */
export function nextControlValue(
  w: Pick<WidgetSpec, 'min' | 'max'>,
  value: number,
  mode: ControlMode,
  random: () => number = Math.random,
): number {
  const min = w.min ?? 0;
  // Keep random seeds inside what a double holds exactly.
  const max = Math.min(w.max ?? Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  switch (mode) {
    case 'fixed':
      return value;
    case 'increment':
      return value + 1 > max ? min : value + 1;
    case 'decrement':
      return value - 1 < min ? max : value - 1;
    case 'randomize': {
      const span = max - min;
      // Two draws so that seeds cover more than the 2^32 values one draw gives.
      const r = Math.floor(random() * 2 ** 21) * 2 ** 32 + Math.floor(random() * 2 ** 32);
      return min + (span >= Number.MAX_SAFE_INTEGER ? r : r % (span + 1));
    }
  }
}

/**
 * Ranks node specs for the search palette: every query word must match the type, title, category
 * or description; title/type prefix matches first.
 */
export function searchNodes(specs: NodeSpec[], query: string, limit = 50): NodeSpec[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return [...specs].sort((a, b) => a.title.localeCompare(b.title)).slice(0, limit);
  const scored: { s: NodeSpec; score: number }[] = [];
  for (const s of specs) {
    const title = s.title.toLowerCase();
    const type = s.type.toLowerCase();
    const cat = s.category.toLowerCase();
    const desc = s.description.toLowerCase();
    let score = 0;
    let all = true;
    for (const w of words) {
      if (title.startsWith(w) || type.startsWith(w)) score += 10;
      else if (title.includes(w) || type.includes(w)) score += 6;
      else if (cat.includes(w)) score += 3;
      else if (desc.includes(w)) score += 1;
      else {
        all = false;
        break;
      }
    }
    if (all) scored.push({ s, score: score - (s.deprecated ? 5 : 0) });
  }
  scored.sort((a, b) => b.score - a.score || a.s.title.localeCompare(b.s.title));
  return scored.slice(0, limit).map((x) => x.s);
}

export interface CategoryNode {
  name: string;
  path: string;
  children: CategoryNode[];
  nodes: NodeSpec[];
}

/** Categories as a tree ('sampling/text' nests under 'sampling'), sorted, for the Add-node menu. */
export function categoryTree(specs: NodeSpec[]): CategoryNode {
  const root: CategoryNode = { name: '', path: '', children: [], nodes: [] };
  for (const s of specs) {
    let cur = root;
    for (const part of (s.category || 'uncategorised').split('/').filter(Boolean)) {
      let next = cur.children.find((c) => c.name === part);
      if (!next) {
        next = { name: part, path: cur.path ? `${cur.path}/${part}` : part, children: [], nodes: [] };
        cur.children.push(next);
      }
      cur = next;
    }
    cur.nodes.push(s);
  }
  const sort = (c: CategoryNode) => {
    c.children.sort((a, b) => a.name.localeCompare(b.name));
    c.nodes.sort((a, b) => a.title.localeCompare(b.title));
    c.children.forEach(sort);
  };
  sort(root);
  return root;
}
