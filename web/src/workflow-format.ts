/**
 * The editor format (litegraph's serialisation with named `widgets_values`) and its conversion to the
 * API format that POST /prompt executes. Mirrors server/engine/convert.ts so the browser and the server
 * agree on what a saved workflow means; pure, so it is unit-tested against the server's converter.
 */
import type { ApiPrompt } from './protocol';
import type { NodeSpec } from './node-defs';

export interface EditorInput {
  name: string;
  type?: string | number;
  link: number | null;
  widget?: { name: string };
}
export interface EditorOutput {
  name: string;
  type?: string | number;
  links?: number[] | null;
}
export interface EditorNode {
  id: number | string;
  type: string;
  title?: string;
  mode?: number;
  pos?: [number, number] | { 0: number; 1: number };
  size?: [number, number] | { 0: number; 1: number };
  inputs?: EditorInput[];
  outputs?: EditorOutput[];
  /** Ours: {name: value}. ComfyUI's: positional, with a control value after each seed widget. */
  widgets_values?: unknown[] | Record<string, unknown>;
  properties?: Record<string, unknown>;
  [k: string]: unknown;
}
export type LinkTuple = [number, number | string, number, number | string, number, (string | number)?];
export interface LinkObject {
  id: number;
  origin_id: number | string;
  origin_slot: number;
  target_id: number | string;
  target_slot: number;
  type?: string | number;
}
export interface EditorWorkflow {
  nodes: EditorNode[];
  links: (LinkTuple | LinkObject)[];
  groups?: unknown[];
  extra?: Record<string, unknown>;
  version?: number;
  [k: string]: unknown;
}

export const MODE_NEVER = 2;
export const MODE_BYPASS = 4;
/** Nodes that exist only in the editor. */
export const VIRTUAL_NODES = new Set(['Note', 'MarkdownNote', 'Reroute', 'PrimitiveNode']);
const CONTROL_VALUES = new Set(['fixed', 'increment', 'decrement', 'randomize']);

export class WorkflowError extends Error {}

export function isEditorWorkflow(v: unknown): v is EditorWorkflow {
  return !!v && typeof v === 'object' && Array.isArray((v as EditorWorkflow).nodes);
}

export function isApiPrompt(v: unknown): v is ApiPrompt {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  const vals = Object.values(v as Record<string, unknown>);
  return vals.length > 0 && vals.every((n) => !!n && typeof n === 'object' && 'class_type' in (n as object));
}

/**
 * Reads a node's widget values by name from either flavour: our named object, or ComfyUI's positional
 * array (widgets in declaration order, a control value after each seed-like widget).
 */
export function namedWidgetValues(
  node: Pick<EditorNode, 'widgets_values' | 'type' | 'id'>,
  spec: NodeSpec | undefined,
): Record<string, unknown> {
  const wv = node.widgets_values;
  if (!wv) return {};
  if (!Array.isArray(wv)) return { ...wv };
  if (!spec) {
    throw new WorkflowError(
      `node ${node.id}: unknown node type '${node.type}' (cannot map its positional widget values)`,
    );
  }
  const out: Record<string, unknown> = {};
  let i = 0;
  for (const w of spec.widgets) {
    if (i >= wv.length) break;
    out[w.name] = wv[i++];
    if (w.control && typeof wv[i] === 'string' && CONTROL_VALUES.has(wv[i] as string)) i++;
  }
  return out;
}

/** Control modes stored alongside positional values (ComfyUI's flavour), by widget name. */
export function positionalControlModes(
  node: Pick<EditorNode, 'widgets_values'>,
  spec: NodeSpec | undefined,
): Record<string, string> {
  const wv = node.widgets_values;
  const out: Record<string, string> = {};
  if (!Array.isArray(wv) || !spec) return out;
  let i = 0;
  for (const w of spec.widgets) {
    if (i >= wv.length) break;
    i++;
    if (w.control && typeof wv[i] === 'string' && CONTROL_VALUES.has(wv[i] as string)) {
      out[w.name] = wv[i] as string;
      i++;
    }
  }
  return out;
}

interface LinkEnd {
  origin: string;
  slot: number;
}

/**
 * Editor workflow → API prompt: named widget values, links followed through reroute nodes and bypassed
 * nodes to their real producer, muted nodes and editor-only nodes dropped.
 */
export function workflowToApiPrompt(wf: EditorWorkflow, specs: Record<string, NodeSpec>): ApiPrompt {
  if (!isEditorWorkflow(wf)) throw new WorkflowError('not an editor workflow: expected a "nodes" array');
  const nodes = new Map<string, EditorNode>();
  for (const n of wf.nodes) nodes.set(String(n.id), n);
  const links = new Map<number, LinkEnd>();
  for (const l of wf.links ?? []) {
    if (Array.isArray(l)) links.set(l[0], { origin: String(l[1]), slot: l[2] });
    else links.set(l.id, { origin: String(l.origin_id), slot: l.origin_slot });
  }

  const resolve = (
    linkId: number,
    wantType: string | undefined,
    depth = 0,
  ): { link: LinkEnd } | { value: unknown } | undefined => {
    if (depth > 64) throw new WorkflowError(`link ${linkId}: too many reroutes/bypasses (a loop?)`);
    const l = links.get(linkId);
    if (!l) return undefined;
    const src = nodes.get(l.origin);
    if (!src) return undefined;
    if (src.type === 'Reroute') {
      const inLink = src.inputs?.[0]?.link;
      return inLink == null ? undefined : resolve(inLink, wantType, depth + 1);
    }
    if (src.type === 'PrimitiveNode') {
      const wv = src.widgets_values;
      return { value: Array.isArray(wv) ? wv[0] : wv ? Object.values(wv)[0] : undefined };
    }
    if (src.mode === MODE_NEVER) return undefined;
    if (src.mode === MODE_BYPASS) {
      const outType = typeName(src.outputs?.[l.slot]?.type) ?? wantType;
      const same = (src.inputs ?? []).find(
        (i) => i.link != null && (!outType || typeName(i.type) === outType || outType === '*'),
      );
      return same ? resolve(same.link as number, wantType, depth + 1) : undefined;
    }
    return { link: { origin: l.origin, slot: l.slot } };
  };

  const prompt: ApiPrompt = {};
  for (const n of wf.nodes) {
    if (VIRTUAL_NODES.has(n.type) || n.mode === MODE_NEVER || n.mode === MODE_BYPASS) continue;
    const id = String(n.id);
    const inputs: Record<string, unknown> = {};
    const linked = new Set<string>();
    for (const inp of n.inputs ?? []) {
      const name = inp.widget?.name ?? inp.name;
      if (inp.link == null) continue;
      const r = resolve(inp.link, typeName(inp.type));
      if (!r) continue;
      linked.add(name);
      inputs[name] = 'link' in r ? [r.link.origin, r.link.slot] : r.value;
    }
    for (const [k, v] of Object.entries(namedWidgetValues(n, specs[n.type]))) {
      if (!linked.has(k)) inputs[k] = v;
    }
    prompt[id] = { class_type: n.type, inputs };
    if (n.title) prompt[id]._meta = { title: n.title };
  }
  return prompt;
}

function typeName(t: string | number | undefined): string | undefined {
  return t === undefined ? undefined : String(t);
}

/** Output node ids of an API prompt (what a queue will run). */
export function outputNodeIds(prompt: ApiPrompt, specs: Record<string, NodeSpec>): string[] {
  return Object.entries(prompt)
    .filter(([, n]) => specs[n.class_type]?.outputNode)
    .map(([id]) => id);
}

/**
 * Key of a workflow's content for "unsaved changes": the view (pan and zoom), node sizes (nodes grow to
 * show their results) and litegraph's execution order do not count.
 */
export function workflowKey(doc: EditorWorkflow): string {
  const { extra, nodes, ...rest } = doc;
  const { ds: _ds, ...extraRest } = (extra ?? {}) as Record<string, unknown>;
  const bare = (nodes ?? []).map(({ size: _size, order: _order, ...n }) => n);
  return JSON.stringify({ ...rest, nodes: bare, extra: extraRest });
}

/** Litegraph's loader wants version-0.4 link tuples and the last ids; hand-written files may lack them. */
export function normaliseWorkflow(doc: EditorWorkflow): EditorWorkflow {
  const links: LinkTuple[] = (doc.links ?? []).map((l) =>
    Array.isArray(l)
      ? l
      : [
          (l as LinkObject).id,
          (l as LinkObject).origin_id,
          (l as LinkObject).origin_slot,
          (l as LinkObject).target_id,
          (l as LinkObject).target_slot,
          (l as LinkObject).type ?? '*',
        ],
  );
  const maxNode = Math.max(0, ...doc.nodes.map((n) => Number(n.id)).filter(Number.isFinite));
  const maxLink = Math.max(0, ...links.map((l) => Number(l[0])).filter(Number.isFinite));
  const out: EditorWorkflow = {
    ...doc,
    links,
    version: 0.4,
    last_node_id: Math.max(Number(doc.last_node_id ?? 0) || 0, maxNode),
    last_link_id: Math.max(Number(doc.last_link_id ?? 0) || 0, maxLink),
  };
  delete (out as { state?: unknown }).state;
  return out;
}
