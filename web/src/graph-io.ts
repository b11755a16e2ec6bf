/**
 * Getting workflows in and out of the canvas: serialise (named widget values), load an editor
 * workflow, import an API-format prompt with an automatic layout, read dropped JSON and PNG files.
 */
import { LGraph, LGraphNode, LiteGraph } from '@comfyorg/litegraph';
import { EditorNode, isEditorNode } from './editor-node';
import type { NodeSpec } from './node-defs';
import { isPng, readPngText } from './png-text';
import type { ApiPrompt } from './protocol';
import {
  isApiPrompt,
  isEditorWorkflow,
  normaliseWorkflow,
  WorkflowError,
  type EditorWorkflow,
} from './workflow-format';

export { workflowKey } from './workflow-format';

export class GraphIO {
  constructor(
    private readonly graph: LGraph,
    private readonly specs: () => Record<string, NodeSpec>,
  ) {}

  serialize(): EditorWorkflow {
    return JSON.parse(JSON.stringify(this.graph.serialize())) as EditorWorkflow;
  }

  /**
   * Loads any workflow document: editor format, `{workflow}` / `{prompt}` wrappers (history entries,
   * PNG metadata), or a bare API prompt. Returns the names of node types the server does not have.
   */
  load(doc: unknown): string[] {
    const wrapped = doc as { workflow?: unknown; prompt?: unknown } | null;
    if (isEditorWorkflow(doc)) return this.loadEditor(doc);
    if (wrapped && isEditorWorkflow(wrapped.workflow)) return this.loadEditor(wrapped.workflow);
    if (wrapped && isApiPrompt(wrapped.prompt)) return this.loadApiPrompt(wrapped.prompt);
    if (isApiPrompt(doc)) return this.loadApiPrompt(doc);
    throw new WorkflowError('not a workflow: expected an editor workflow ("nodes") or an API-format prompt');
  }

  private loadEditor(doc: EditorWorkflow): string[] {
    this.graph.clear();
    this.graph.configure(normaliseWorkflow(doc) as unknown as Parameters<LGraph['configure']>[0]);
    return this.markMissing();
  }

  /** Nodes whose type the server does not know stay in the graph (and in saves), drawn in red. */
  markMissing(): string[] {
    const missing = new Set<string>();
    for (const n of this.graph._nodes) {
      if (isEditorNode(n)) continue;
      const saved = (n as { last_serialization?: { type?: string } }).last_serialization;
      const type = saved?.type ?? n.type ?? '?';
      missing.add(type);
      n.title = `${type} (missing node type)`;
      n.color = '#822';
      n.bgcolor = '#4a1f1f';
    }
    return [...missing];
  }

  /** Builds a graph from an API prompt, laying nodes out in columns by depth. */
  loadApiPrompt(prompt: ApiPrompt): string[] {
    this.graph.clear();
    const missing: string[] = [];
    const nodes = new Map<string, LGraphNode>();
    for (const [id, n] of Object.entries(prompt)) {
      const node = LiteGraph.createNode(n.class_type);
      if (!node) {
        missing.push(n.class_type);
        continue;
      }
      if (n._meta?.title) node.title = n._meta.title;
      // Keep the prompt's ids where litegraph can (numbers), so history and errors still match.
      if (/^[1-9]\d{0,8}$/.test(id)) node.id = Number(id);
      this.graph.add(node);
      nodes.set(id, node);
    }
    const isLink = (v: unknown): v is [string, number] =>
      Array.isArray(v) && v.length === 2 && (typeof v[0] === 'string' || typeof v[0] === 'number');
    for (const [id, n] of Object.entries(prompt)) {
      const node = nodes.get(id);
      if (!node) continue;
      for (const [name, v] of Object.entries(n.inputs ?? {})) {
        if (isLink(v)) {
          const src = nodes.get(String(v[0]));
          const slot = node.inputs.findIndex((i) => i.name === name || i.widget?.name === name);
          if (src && slot >= 0) src.connect(Number(v[1]), node, slot);
        } else if (isEditorNode(node)) node.setWidgetValue(name, v);
      }
    }
    // Columns by longest path from a source.
    const depth = new Map<string, number>();
    const depthOf = (id: string, seen = new Set<string>()): number => {
      if (depth.has(id)) return depth.get(id)!;
      if (seen.has(id)) return 0;
      seen.add(id);
      let d = 0;
      for (const v of Object.values(prompt[id]?.inputs ?? {})) {
        if (isLink(v) && prompt[String(v[0])]) d = Math.max(d, depthOf(String(v[0]), seen) + 1);
      }
      depth.set(id, d);
      return d;
    };
    const colY = new Map<number, number>();
    for (const id of Object.keys(prompt)) {
      const node = nodes.get(id);
      if (!node) continue;
      const d = depthOf(id);
      const y = colY.get(d) ?? 60;
      node.pos = [60 + d * 340, y];
      colY.set(d, y + node.size[1] + 70);
    }
    this.graph.setDirtyCanvas(true, true);
    return [...new Set(missing)];
  }
}

/** Reads a dropped or picked file into a workflow document (JSON file, or a PNG's `workflow`/`prompt`). */
export async function workflowFromFile(file: Blob & { name?: string }): Promise<unknown> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  if (isPng(bytes)) {
    const text = await readPngText(bytes);
    const raw = text.workflow ?? text.prompt;
    if (!raw)
      throw new WorkflowError(`${file.name ?? 'the image'} carries no workflow (no "workflow" text chunk)`);
    try {
      return JSON.parse(raw);
    } catch {
      throw new WorkflowError(`${file.name ?? 'the image'}: its workflow chunk is not valid JSON`);
    }
  }
  const text = new TextDecoder().decode(bytes);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new WorkflowError(`${file.name ?? 'the file'} is not JSON: ${(err as Error).message}`);
  }
}

export { EditorNode };
