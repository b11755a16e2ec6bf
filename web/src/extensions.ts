/**
 * Editor extensions shipped by plugin packs: scripts the server lists (GET /extensions), loaded as
 * modules once the editor is up, which call `window.dditEditor.registerExtension({...})`.
 * A failing extension is reported and skipped; it never stops the editor or other extensions.
 */
import type { LGraphNode } from '@comfyorg/litegraph';
import type { UiOutput } from './protocol';

export interface EditorExtension {
  /** Unique name, conventionally `<pack>.<what>`. */
  name: string;
  /** Called once when registered, with the editor API. */
  setup?(editor: unknown): void | Promise<void>;
  /**
   * Called for every node created on the canvas (palette, paste, workflow load), after its widgets exist,
   * and at registration for the nodes already there.
   */
  nodeCreated?(node: LGraphNode): void;
  /** Called when a node reports output (`executed`), after the editor has stored it on the node. */
  onExecuted?(node: LGraphNode, output: UiOutput): void;
  /** Called for every JSON message from the server, including our `ddit.*` ones. */
  onMessage?(type: string, data: Record<string, unknown>): void;
}

export interface ExtensionFailure {
  name: string;
  hook: string;
  message: string;
}

export class ExtensionHost {
  readonly extensions: EditorExtension[] = [];
  readonly failures: ExtensionFailure[] = [];
  /** Scripts that loaded (URL paths), and those that failed with their reason. */
  readonly scripts: { url: string; ok: boolean; error?: string }[] = [];

  /** True once every listed script has loaded or failed. */
  settled = false;

  constructor(
    private readonly editor: () => unknown,
    private readonly report: (msg: string) => void,
    private readonly existingNodes: () => LGraphNode[] = () => [],
  ) {}

  /** Adds an extension; its nodeCreated is called at once for the nodes already on the canvas. */
  register(ext: EditorExtension): void {
    if (!ext || typeof ext !== 'object' || typeof ext.name !== 'string' || !ext.name) {
      throw new TypeError('registerExtension: an extension needs a non-empty string "name"');
    }
    if (this.extensions.some((e) => e.name === ext.name)) {
      throw new Error(`registerExtension: an extension named '${ext.name}' is already registered`);
    }
    this.extensions.push(ext);
    if (ext.setup) this.guard(ext, 'setup', () => ext.setup!(this.editor()));
    if (ext.nodeCreated) {
      for (const n of this.existingNodes()) this.guard(ext, 'nodeCreated', () => ext.nodeCreated!(n));
    }
  }

  private guard(ext: EditorExtension, hook: string, fn: () => unknown): void {
    try {
      const r = fn();
      if (r && typeof (r as Promise<unknown>).catch === 'function') {
        (r as Promise<unknown>).catch((err: unknown) => this.fail(ext, hook, err));
      }
    } catch (err) {
      this.fail(ext, hook, err);
    }
  }

  private fail(ext: EditorExtension, hook: string, err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    const first = !this.failures.some((f) => f.name === ext.name && f.hook === hook);
    this.failures.push({ name: ext.name, hook, message });
    console.error(`ddit extension '${ext.name}' failed in ${hook}:`, err);
    if (first) this.report(`Extension '${ext.name}' failed in ${hook}: ${message}`);
  }

  nodeCreated(node: LGraphNode): void {
    for (const e of this.extensions)
      if (e.nodeCreated) this.guard(e, 'nodeCreated', () => e.nodeCreated!(node));
  }

  executed(node: LGraphNode, output: UiOutput): void {
    for (const e of this.extensions)
      if (e.onExecuted) this.guard(e, 'onExecuted', () => e.onExecuted!(node, output));
  }

  message(type: string, data: Record<string, unknown>): void {
    for (const e of this.extensions)
      if (e.onMessage) this.guard(e, 'onMessage', () => e.onMessage!(type, data));
  }

  /** Loads scripts as ES modules, in order; waits at most `timeoutMs` for each. */
  async load(urls: { path: string; src: string }[], timeoutMs = 5000): Promise<void> {
    for (const { path, src } of urls) {
      const result = await new Promise<{ ok: boolean; error?: string }>((resolve) => {
        const el = document.createElement('script');
        el.type = 'module';
        el.src = src;
        el.dataset.extension = path;
        const timer = setTimeout(() => resolve({ ok: false, error: 'timed out' }), timeoutMs);
        el.onload = () => {
          clearTimeout(timer);
          resolve({ ok: true });
        };
        el.onerror = () => {
          clearTimeout(timer);
          resolve({ ok: false, error: 'could not be loaded' });
        };
        document.head.append(el);
      });
      this.scripts.push({ url: path, ...result });
      if (!result.ok) this.report(`Editor extension ${path} ${result.error}`);
    }
  }
}
