import type { ApiPrompt, InputSpec } from './types';
import type { NodeRegistry } from './registry';
import { isWidgetType } from './registry';

/** A node as litegraph serialises it (the fields we read). */
export interface EditorNode {
  id: number | string;
  type: string;
  title?: string;
  mode?: number;
  inputs?: { name: string; type?: string; link: number | null; widget?: { name: string } }[];
  outputs?: { name: string; type?: string; links?: number[] | null }[];
  /** Ours: named values. ComfyUI's: positional, with control values after seed widgets. */
  widgets_values?: unknown[] | Record<string, unknown>;
  properties?: Record<string, unknown>;
}
type LinkTuple = [number, number | string, number, number | string, number, string?];
interface LinkObject {
  id: number;
  origin_id: number | string;
  origin_slot: number;
  target_id: number | string;
  target_slot: number;
  type?: string;
}
export interface EditorWorkflow {
  nodes: EditorNode[];
  links: (LinkTuple | LinkObject)[];
  groups?: unknown[];
  extra?: Record<string, unknown>;
  version?: number;
}

export class ConversionError extends Error {}

const MODE_NEVER = 2;
const MODE_BYPASS = 4;
const VIRTUAL = new Set(['Note', 'MarkdownNote', 'Reroute', 'PrimitiveNode']);
const CONTROL_VALUES = new Set(['fixed', 'increment', 'decrement', 'randomize']);

export function isEditorWorkflow(v: unknown): v is EditorWorkflow {
  return !!v && typeof v === 'object' && Array.isArray((v as EditorWorkflow).nodes);
}

export function isApiPrompt(v: unknown): v is ApiPrompt {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  const vals = Object.values(v as Record<string, unknown>);
  return vals.length > 0 && vals.every((n) => !!n && typeof n === 'object' && 'class_type' in (n as object));
}

interface Link {
  origin: string;
  slot: number;
}

/**
 * Editor (litegraph) format → API format, on the server, so saved editor workflows run from the CLI
 * and the API as they are: named widget values, links resolved through reroutes and bypassed nodes,
 * muted nodes dropped, primitive nodes folded into the inputs they feed.
 */
export function editorToApi(wf: EditorWorkflow, registry: NodeRegistry): ApiPrompt {
  if (!isEditorWorkflow(wf)) throw new ConversionError('not an editor workflow: expected a "nodes" array');
  const nodes = new Map<string, EditorNode>();
  for (const n of wf.nodes) nodes.set(String(n.id), n);
  const links = new Map<number, Link>();
  for (const l of wf.links ?? []) {
    if (Array.isArray(l)) links.set(l[0], { origin: String(l[1]), slot: l[2] });
    else links.set(l.id, { origin: String(l.origin_id), slot: l.origin_slot });
  }

  /** Follow a link to the real producer; undefined when it ends at a muted node or nowhere. */
  const resolve = (
    linkId: number,
    wantType: string | undefined,
    depth = 0,
  ): { link: Link } | { value: unknown } | undefined => {
    if (depth > 64) throw new ConversionError(`link ${linkId}: too many reroutes/bypasses (a loop?)`);
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
      const outType = src.outputs?.[l.slot]?.type ?? wantType;
      const same = (src.inputs ?? []).find(
        (i) => i.link != null && (!outType || i.type === outType || outType === '*'),
      );
      return same ? resolve(same.link as number, wantType, depth + 1) : undefined;
    }
    return { link: { origin: l.origin, slot: l.slot } };
  };

  const prompt: ApiPrompt = {};
  for (const n of wf.nodes) {
    if (VIRTUAL.has(n.type) || n.mode === MODE_NEVER || n.mode === MODE_BYPASS) continue;
    const def = registry.get(n.type);
    const id = String(n.id);
    const inputs: Record<string, unknown> = {};
    const linked = new Set<string>();
    for (const inp of n.inputs ?? []) {
      const name = inp.widget?.name ?? inp.name;
      if (inp.link == null) continue;
      const r = resolve(inp.link, inp.type);
      if (!r) continue;
      linked.add(name);
      inputs[name] = 'link' in r ? [r.link.origin, r.link.slot] : r.value;
    }
    const wv = n.widgets_values;
    if (wv && !Array.isArray(wv)) {
      for (const [k, v] of Object.entries(wv)) if (!linked.has(k)) inputs[k] = v;
    } else if (Array.isArray(wv)) {
      if (!def)
        throw new ConversionError(`node ${id}: unknown node type '${n.type}' (cannot map its widget values)`);
      const widgetNames = (Object.entries(def.inputs) as [string, InputSpec][])
        .filter(([, s]) => isWidgetType(s.type) && !s.forceInput)
        .map(([k, s]) => ({ name: k, control: s.type === 'INT' && 'control' in s && !!s.control }));
      let i = 0;
      for (const w of widgetNames) {
        if (i >= wv.length) break;
        if (!linked.has(w.name)) inputs[w.name] = wv[i];
        i++;
        if (w.control && typeof wv[i] === 'string' && CONTROL_VALUES.has(wv[i] as string)) i++;
      }
    }
    prompt[id] = { class_type: n.type, inputs };
    if (n.title) prompt[id]._meta = { title: n.title };
  }
  return prompt;
}

/** Reads a workflow in either format and returns the API graph to execute. */
export function toApiPrompt(doc: unknown, registry: NodeRegistry): ApiPrompt {
  if (isEditorWorkflow(doc)) return editorToApi(doc, registry);
  const wrapped = doc as { prompt?: unknown; workflow?: unknown } | null;
  if (wrapped && isApiPrompt(wrapped.prompt)) return wrapped.prompt;
  if (wrapped && isEditorWorkflow(wrapped.workflow)) return editorToApi(wrapped.workflow, registry);
  if (isApiPrompt(doc)) return doc;
  throw new ConversionError(
    'not a workflow: expected an API-format graph or an editor workflow with a "nodes" array',
  );
}
