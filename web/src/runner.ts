/**
 * Queues the canvas's graph and follows its execution: turns the graph into an API prompt, shows the
 * server's validation errors on nodes and inputs, applies seed controls after a queue, and routes
 * every execution message, preview frame and `ddit.*` message to the node it concerns.
 */
import type { LGraph } from '@comfyorg/litegraph';
import { ApiError, type Api } from './api';
import type { BinaryFrame } from './binary-frames';
import { isEditorNode, type EditorNode } from './editor-node';
import type { ExtensionHost } from './extensions';
import type { GraphIO } from './graph-io';
import { loadImage } from './live-state';
import { nextControlValue, type NodeSpec } from './node-defs';
import type {
  ApiPrompt,
  ImageRef,
  NodeErrors,
  PromptError,
  TextState,
  TrainMetrics,
  TrainSample,
  UiOutput,
  WsMessage,
} from './protocol';
import { workflowToApiPrompt } from './workflow-format';

export interface RunView {
  /** Overall progress of the running prompt, 0..1, or null when idle. */
  overall(fraction: number | null, label: string): void;
  toast(msg: string, kind?: 'info' | 'error' | 'success'): void;
  /** The queue changed (status message, queued, finished). */
  queueChanged(): void;
  redraw(): void;
}

interface Tracked {
  prompt: ApiPrompt;
  total: number;
  done: Set<string>;
  current: string | null;
  currentFraction: number;
  loop: { iteration: number; total: number } | null;
}

export class Runner {
  /** Prompts queued from this editor (and the one running), by id. */
  readonly tracked = new Map<string, Tracked>();
  running: string | null = null;
  queueRemaining = 0;
  lastError: { prompt_id?: string; message: string; node?: string } | null = null;

  constructor(
    private readonly api: Api,
    private readonly graph: LGraph,
    private readonly io: GraphIO,
    private readonly specs: () => Record<string, NodeSpec>,
    private readonly clientId: () => string,
    private readonly extensions: ExtensionHost,
    private readonly view: RunView,
  ) {}

  private nodes(): EditorNode[] {
    return this.graph._nodes.filter(isEditorNode);
  }

  /** The editor node a message about `id` of `promptId` concerns (same id and class as queued). */
  private nodeFor(id: unknown, promptId?: unknown): EditorNode | null {
    if (id === null || id === undefined) return null;
    const node = this.graph.getNodeById(String(id)) ?? this.graph.getNodeById(Number(id));
    if (!node || !isEditorNode(node)) return null;
    const t = typeof promptId === 'string' ? this.tracked.get(promptId) : undefined;
    const queued = t?.prompt[String(id)];
    if (queued && queued.class_type !== node.type) return null;
    return node;
  }

  /** Builds the API prompt of the current graph. */
  buildPrompt(): { prompt: ApiPrompt; workflow: ReturnType<GraphIO['serialize']> } {
    const workflow = this.io.serialize();
    const prompt = workflowToApiPrompt(workflow, this.specs());
    return { prompt, workflow };
  }

  /** Queues the graph; returns the prompt id, or null when the server refused it (errors shown). */
  async queue(opts: { front?: boolean; iterations?: number } = {}): Promise<string | null> {
    let built: ReturnType<Runner['buildPrompt']>;
    try {
      built = this.buildPrompt();
    } catch (err) {
      this.view.toast((err as Error).message, 'error');
      return null;
    }
    if (!Object.keys(built.prompt).length) {
      this.view.toast('Nothing to run: the graph is empty', 'error');
      return null;
    }
    for (const n of this.nodes()) n.live.error = null;
    this.lastError = null;
    try {
      const res = await this.api.queuePrompt({
        prompt: built.prompt,
        client_id: this.clientId(),
        extra_data: {
          extra_pnginfo: { workflow: built.workflow },
          ...(opts.iterations && opts.iterations > 1 ? { loop: { iterations: opts.iterations } } : {}),
        },
        front: opts.front,
      });
      this.track(res.prompt_id, built.prompt);
      if (res.node_errors && Object.keys(res.node_errors).length) {
        this.showNodeErrors(res.node_errors);
        this.view.toast('Some outputs failed validation and will not run (see the red nodes)', 'error');
      }
      this.applyControls();
      this.view.queueChanged();
      this.view.redraw();
      return res.prompt_id;
    } catch (err) {
      if (err instanceof ApiError && err.status === 400 && err.body && typeof err.body === 'object') {
        const body = err.body as PromptError;
        const count = this.showNodeErrors(body.node_errors ?? {});
        const top = typeof body.error === 'string' ? body.error : (body.error?.message ?? 'invalid prompt');
        this.lastError = { message: top };
        this.view.toast(count ? `${top}: ${count} node(s) have errors` : top, 'error');
      } else {
        this.lastError = { message: (err as Error).message };
        this.view.toast((err as Error).message, 'error');
      }
      this.view.redraw();
      return null;
    }
  }

  /** Re-queues a prompt as it was (history re-run). */
  async requeue(prompt: ApiPrompt, extra: Record<string, unknown> | undefined): Promise<string | null> {
    for (const n of this.nodes()) n.live.error = null;
    try {
      const res = await this.api.queuePrompt({ prompt, client_id: this.clientId(), extra_data: extra ?? {} });
      this.track(res.prompt_id, prompt);
      this.view.queueChanged();
      return res.prompt_id;
    } catch (err) {
      this.view.toast((err as Error).message, 'error');
      return null;
    }
  }

  private track(id: string, prompt: ApiPrompt): void {
    this.tracked.set(id, {
      prompt,
      total: Object.keys(prompt).length,
      done: new Set(),
      current: null,
      currentFraction: 0,
      loop: null,
    });
    // Keep the map small: forget old prompts.
    while (this.tracked.size > 50) this.tracked.delete(this.tracked.keys().next().value as string);
  }

  /** Shows ComfyUI-shaped node_errors on the nodes and inputs they name; returns how many nodes. */
  showNodeErrors(errors: NodeErrors): number {
    let count = 0;
    for (const [id, e] of Object.entries(errors)) {
      const node = this.nodeFor(id);
      if (!node) continue;
      count++;
      const inputs = new Map<string, string>();
      for (const err of e.errors ?? []) {
        const name = err.extra_info?.input_name ?? err.details;
        if (name && typeof name === 'string') inputs.set(name, err.message);
      }
      node.live.error = { message: (e.errors ?? []).map((x) => x.message).join('\n'), inputs };
      node.live.runState = 'error';
    }
    return count;
  }

  /** After a queue, seeds with a control mode change for the next run. */
  applyControls(): void {
    for (const n of this.nodes()) {
      for (const w of n.spec.widgets) {
        if (!w.control || n.inputs.find((i) => i.widget?.name === w.name)?.link != null) continue;
        const mode = n.controlMode(w.name);
        const widget = n.widget(w.name);
        if (!mode || mode === 'fixed' || !widget) continue;
        widget.value = nextControlValue(w, Number(widget.value), mode);
      }
    }
  }

  private overall(): void {
    const t = this.running ? this.tracked.get(this.running) : undefined;
    if (!this.running) {
      this.view.overall(null, this.queueRemaining ? `${this.queueRemaining} queued` : 'idle');
      return;
    }
    if (!t) {
      this.view.overall(0, 'running (another client)');
      return;
    }
    let f: number;
    let label: string;
    if (t.loop && t.loop.total > 1) {
      f = (t.loop.iteration + (t.total ? t.done.size / t.total : 0)) / t.loop.total;
      label = `iteration ${t.loop.iteration + 1}/${t.loop.total}`;
    } else {
      f = t.total ? (t.done.size + t.currentFraction) / t.total : 0;
      const node = t.current ? this.graph.getNodeById(t.current) : null;
      label = node ? `${node.title} (${t.done.size + 1}/${t.total})` : `${t.done.size}/${t.total} nodes`;
    }
    this.view.overall(Math.max(0, Math.min(1, f)), label);
  }

  handleMessage(msg: WsMessage): void {
    const d = msg.data as Record<string, unknown>;
    const promptId = typeof d.prompt_id === 'string' ? d.prompt_id : undefined;
    const t = promptId ? this.tracked.get(promptId) : undefined;
    switch (msg.type) {
      case 'status': {
        const q = (d.status as { exec_info?: { queue_remaining?: number } } | undefined)?.exec_info;
        this.queueRemaining = Number(q?.queue_remaining ?? 0);
        this.view.queueChanged();
        this.overall();
        break;
      }
      case 'execution_start': {
        this.running = promptId ?? null;
        if (t) {
          for (const id of Object.keys(t.prompt)) {
            const n = this.nodeFor(id, promptId);
            if (n) n.live.resetForRun();
          }
        }
        this.view.queueChanged();
        this.overall();
        break;
      }
      case 'execution_cached': {
        for (const id of (d.nodes as string[]) ?? []) {
          t?.done.add(String(id));
          const n = this.nodeFor(id, promptId);
          if (n) n.live.runState = 'cached';
        }
        this.overall();
        break;
      }
      case 'executing': {
        const id = d.node === null || d.node === undefined ? null : String(d.display_node ?? d.node);
        if (t?.current && t.current !== id) {
          t.done.add(t.current);
          const prev = this.nodeFor(t.current, promptId);
          if (prev && prev.live.runState === 'running') prev.live.runState = 'done';
        }
        if (t) {
          t.current = id;
          t.currentFraction = 0;
        }
        if (id === null) {
          if (!promptId || this.running === promptId) this.running = null;
          for (const n of this.nodes()) if (n.live.runState === 'running') n.live.runState = 'done';
          this.view.queueChanged();
        } else {
          this.running = promptId ?? this.running;
          const n = this.nodeFor(id, promptId);
          if (n) {
            n.live.runState = 'running';
            n.live.progress = null;
          }
        }
        this.overall();
        break;
      }
      case 'progress': {
        const n = this.nodeFor(d.node, promptId);
        const value = Number(d.value);
        const max = Number(d.max);
        if (n) {
          n.live.progress = { value, max };
          n.live.runState = 'running';
        }
        if (t && max > 0) t.currentFraction = value / max;
        this.overall();
        break;
      }
      case 'executed': {
        const n = this.nodeFor(d.display_node ?? d.node, promptId);
        const output = (d.output ?? {}) as UiOutput;
        if (n) {
          this.setOutput(n, output);
          this.extensions.executed(n, output);
        }
        break;
      }
      case 'execution_error': {
        const n = this.nodeFor(d.node_id, promptId);
        const message = `${String(d.exception_type ?? 'Error')}: ${String(d.exception_message ?? '')}`;
        this.lastError = { prompt_id: promptId, message, node: d.node_id ? String(d.node_id) : undefined };
        if (n) {
          const inputs = new Map<string, string>();
          const m = /input '([^']+)'/.exec(String(d.exception_message ?? ''));
          if (m) inputs.set(m[1], message);
          n.live.error = { message, inputs };
          n.live.runState = 'error';
        }
        this.view.toast(`${n ? `${n.title}: ` : ''}${message}`, 'error');
        this.finish(promptId);
        break;
      }
      case 'execution_interrupted': {
        const n = this.nodeFor(d.node_id, promptId);
        if (n) n.live.runState = 'interrupted';
        this.view.toast('Interrupted', 'info');
        this.finish(promptId);
        break;
      }
      case 'execution_success':
        this.finish(promptId);
        break;
      case 'ddit.loop': {
        if (t) {
          t.loop = { iteration: Number(d.iteration ?? 0), total: Number(d.total ?? 1) };
          t.done.clear();
        }
        if (typeof d.stopped === 'string') this.view.toast(`Loop ended: ${d.stopped}`, 'info');
        this.overall();
        break;
      }
      case 'ddit.text_state': {
        const n = this.nodeFor(d.node, promptId);
        if (n) {
          n.live.textState = d as unknown as TextState;
          n.growFor();
        }
        break;
      }
      case 'ddit.train_metrics': {
        const n = this.nodeFor(d.node, promptId);
        if (n) {
          const m = d as unknown as TrainMetrics;
          n.live.pushMetrics(m);
          if (m.sample_images || m.sample_caption) {
            this.setSample(n, { step: m.step, images: m.sample_images, caption: m.sample_caption });
          }
          n.growFor();
        }
        break;
      }
      case 'ddit.train_sample': {
        const n = this.nodeFor(d.node, promptId);
        if (n) this.setSample(n, d as unknown as TrainSample);
        break;
      }
      default:
        break;
    }
    this.extensions.message(msg.type, d);
    this.view.redraw();
  }

  private finish(promptId: string | undefined): void {
    if (!promptId || this.running === promptId) this.running = null;
    for (const n of this.nodes()) if (n.live.runState === 'running') n.live.runState = 'done';
    this.view.queueChanged();
    this.overall();
  }

  setOutput(n: EditorNode, output: UiOutput): void {
    n.live.output = output;
    n.live.runState = 'done';
    const refs = (output.images ?? []) as ImageRef[];
    n.live.outputImages = refs.map((r) => loadImage(this.api.viewUrl(r), () => n.growFor(), r));
    n.growFor();
  }

  private setSample(n: EditorNode, s: TrainSample): void {
    const refs = [...(s.images ?? []), ...(s.image ? [s.image] : [])];
    const images = refs.map((r) => loadImage(this.api.viewUrl(r), () => n.growFor(), r));
    n.live.sample = {
      step: s.step,
      caption: s.caption ?? n.live.sample?.caption,
      images: images.length ? images : (n.live.sample?.images ?? []),
    };
    n.growFor();
  }

  handleBinary(frame: BinaryFrame): void {
    if (frame.kind === 'preview') {
      const t = frame.promptId
        ? this.tracked.get(frame.promptId)
        : this.running
          ? this.tracked.get(this.running)
          : undefined;
      const id = frame.nodeId ?? t?.current ?? null;
      const n = this.nodeFor(id, frame.promptId ?? this.running);
      if (!n) return;
      const url = URL.createObjectURL(new Blob([frame.image as BlobPart], { type: frame.mime }));
      const img = loadImage(url, () => {
        n.growFor();
        this.view.redraw();
      });
      n.live.setPreview(img);
    } else if (frame.kind === 'text') {
      const n = this.nodeFor(frame.nodeId, this.running);
      if (n) {
        n.live.textState = { tokens: [], text: frame.text };
        n.growFor();
      }
    }
    this.view.redraw();
  }
}
