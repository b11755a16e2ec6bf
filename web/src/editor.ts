/**
 * The editor application: toolbar, canvas, panels, and the wiring between the server (HTTP and
 * WebSocket), the graph and the extensions. `window.dditEditor` is its public face (see
 * docs/editor-extensions.md).
 */
import { LGraph, LGraphCanvas, LGraphNode, LiteGraph } from '@comfyorg/litegraph';
import { Api, ApiError } from './api';
import { EditorNode, isEditorNode, registerNodeTypes, setNodeHooks } from './editor-node';
import { ExtensionHost, type EditorExtension } from './extensions';
import { GraphIO, workflowFromFile, workflowKey } from './graph-io';
import { interpretNodeDef, type NodeSpec } from './node-defs';
import type { ApiPrompt, ObjectInfoMap, WsMessage } from './protocol';
import { takePrefetched } from './prefetch';
import { Runner } from './runner';
import { loadSettings, type Settings } from './settings';
import { ServerSocket, type SocketState } from './socket';
import { promptText } from './ui/dialog';
import { h } from './ui/dom';
import { openImages, openText } from './ui/lightbox';
import { openLibrary } from './ui/library';
import { NodePalette, buildCategoryMenu } from './ui/palette';
import { QueuePanel } from './ui/queue-panel';
import { openSettings } from './ui/settings-dialog';
import { toast } from './ui/toast';
import { isEditorWorkflow as isEditorWorkflowDoc, type EditorWorkflow } from './workflow-format';

const STORE_KEY = 'ddit.workflow';
export const DEFAULT_WORKFLOW = 'text-to-image';

interface Stored {
  name: string | null;
  doc: EditorWorkflow;
  savedKey: string | null;
}

type Listener = (data: Record<string, unknown>, type: string) => void;

export class Editor {
  readonly settings: Settings = loadSettings();
  readonly api = new Api(() => this.settings);
  readonly graph = new LGraph();
  canvas!: LGraphCanvas;
  readonly io = new GraphIO(this.graph, () => this.specMap);
  readonly extensions: ExtensionHost;
  readonly socket: ServerSocket;
  readonly runner: Runner;
  readonly palette = new NodePalette(() => this.specs);
  readonly queuePanel: QueuePanel;
  specs: NodeSpec[] = [];
  specMap: Record<string, NodeSpec> = {};
  /** Library name of the open workflow (null: never saved). */
  workflowName: string | null = null;
  private savedKey: string | null = null;
  private storedKey = '';
  private listeners = new Map<string, Set<Listener>>();
  /** Milliseconds from navigation start to a usable editor (node types loaded, workflow drawn). */
  ready: { ms: number } | null = null;
  private el!: {
    name: HTMLElement;
    conn: HTMLElement;
    bar: HTMLElement;
    barLabel: HTMLElement;
    queueCount: HTMLElement;
    nodesMenu: HTMLElement;
    banner: HTMLElement;
    loop: HTMLInputElement;
  };

  constructor(private readonly root: HTMLElement) {
    this.extensions = new ExtensionHost(
      () => this.publicApi(),
      (m) => toast(m, 'error'),
      () => this.graph._nodes,
    );
    this.socket = new ServerSocket((id) => this.api.wsUrl(id), {
      message: (m) => this.onMessage(m),
      binary: (f) => this.runner.handleBinary(f),
      state: (s, d) => this.onSocketState(s, d.reconnected),
    });
    this.queuePanel = new QueuePanel(this.api, {
      rerun: (p, extra) => void this.runner.requeue(p, extra),
      open: (doc) => this.loadDocument(doc, null),
      cancelRunning: (id) => void this.interrupt(id),
      runningLabel: () => this.el.barLabel.textContent ?? '',
      toast,
    });
    this.runner = new Runner(
      this.api,
      this.graph,
      this.io,
      () => this.specMap,
      () => this.socket.clientId,
      this.extensions,
      {
        overall: (f, label) => this.setOverall(f, label),
        toast,
        queueChanged: () => this.queuePanel.refreshSoon(),
        redraw: () => this.redraw(),
      },
    );
    setNodeHooks({
      created: (n) => this.extensions.nodeCreated(n),
      changed: () => {},
      openImage: (n, i) => this.openNodeImages(n, i),
      openText: (n) => {
        const text = n.live.output?.text?.join('\n') ?? n.live.drawn.textState;
        if (text) openText(n.title, text);
      },
      pickUpload: (n, w) => this.pickUpload(n, w),
      inputImageUrl: (f) => this.api.url('/view', { filename: f, type: 'input', subfolder: '' }),
    });
  }

  // ---------------------------------------------------------------- layout

  private buildShell(): HTMLCanvasElement {
    const btn = (label: string, id: string, title: string, fn: () => void, cls = '') => {
      const b = h('button', { id, title, class: cls, 'data-testid': id }, label);
      b.addEventListener('click', (e) => {
        e.stopPropagation();
        fn();
      });
      return b;
    };
    const name = h(
      'span',
      { class: 'wf-name', 'data-testid': 'wf-name', title: 'Open workflow' },
      'untitled',
    );
    const conn = h(
      'span',
      { class: 'conn', 'data-testid': 'conn', 'data-state': 'connecting' },
      'connecting',
    );
    const bar = h('div', { class: 'overall-bar' });
    const barLabel = h('span', { class: 'overall-label', 'data-testid': 'overall-label' }, 'idle');
    const queueCount = h('span', { class: 'queue-count-badge', 'data-testid': 'queue-count' }, '0');
    const nodesMenu = h('div', { class: 'nodes-menu', 'data-testid': 'nodes-menu', hidden: true });
    const banner = h('div', { class: 'banner', 'data-testid': 'banner', hidden: true });
    const loop = h('input', {
      type: 'number',
      min: 1,
      max: 1000000,
      value: 1,
      class: 'loop-input',
      'data-testid': 'loop-count',
      'aria-label': 'Iterations',
      title: 'Run the graph this many times as one job (training loops); saved with the workflow',
    });
    loop.addEventListener('change', () => {
      const n = Math.max(1, Math.floor(Number(loop.value)) || 1);
      loop.value = String(n);
      this.graph.extra.loop_iterations = n > 1 ? n : undefined;
    });
    loop.addEventListener('keydown', (e) => e.stopPropagation());
    const nodesBtn = btn('Add node ▾', 'btn-nodes', 'Node types by category', () => {
      nodesMenu.hidden = !nodesMenu.hidden;
    });
    const nodesWrap = h('div', { class: 'nodes-wrap' }, nodesBtn, nodesMenu);
    document.addEventListener('pointerdown', (e) => {
      if (!nodesWrap.contains(e.target as Node)) nodesMenu.hidden = true;
    });
    const panelBtn = btn('Queue panel', 'btn-panel', 'Show the queue and history', () => {
      this.queuePanel.el.classList.toggle('open');
      if (this.queuePanel.el.classList.contains('open')) void this.queuePanel.refresh();
    });
    panelBtn.append(' ', queueCount);
    const toolbar = h(
      'header',
      { class: 'toolbar' },
      h('span', { class: 'brand' }, 'ddit studio'),
      btn('Workflows', 'btn-library', 'The workflow library (Ctrl+O)', () => this.openLibrary()),
      name,
      btn('Save', 'btn-save', 'Save to the library (Ctrl+S)', () => void this.save()),
      btn('Save as', 'btn-save-as', 'Save under a new name', () => void this.save(true)),
      btn('New', 'btn-new', 'Start an empty workflow', () => this.newWorkflow()),
      btn('Import', 'btn-import', 'Open a workflow file (.json, or a PNG made by the project)', () =>
        this.importFile(),
      ),
      btn('Export', 'btn-export', 'Download this workflow as JSON', () => this.exportFile()),
      nodesWrap,
      h('span', { class: 'spacer' }),
      h('div', { class: 'overall', 'data-testid': 'overall' }, bar, barLabel),
      h('label', { class: 'loop-label', title: loop.title }, '×', loop),
      btn('Queue ▶', 'btn-queue', 'Run this workflow (Ctrl+Enter)', () => void this.queue(), 'primary'),
      btn('Stop', 'btn-interrupt', 'Interrupt the running prompt', () => void this.interrupt()),
      panelBtn,
      conn,
      btn('⚙', 'btn-settings', 'Settings: server and API token', () =>
        openSettings(this.settings, () => location.reload()),
      ),
    );
    const canvasEl = h('canvas', { id: 'graph-canvas', tabindex: 0, 'data-testid': 'canvas' });
    const wrap = h('div', { class: 'canvas-wrap' }, canvasEl);
    this.root.append(toolbar, banner, h('main', { class: 'main' }, wrap, this.queuePanel.el));
    this.el = { name, conn, bar, barLabel, queueCount, nodesMenu, banner, loop };
    name.addEventListener('click', () => this.openLibrary());
    new ResizeObserver(() => this.canvas?.resize(wrap.clientWidth, wrap.clientHeight)).observe(wrap);
    return canvasEl;
  }

  private setupCanvas(canvasEl: HTMLCanvasElement): void {
    const canvas = new LGraphCanvas(canvasEl, this.graph);
    this.canvas = canvas;
    const wrap = canvasEl.parentElement!;
    canvas.resize(wrap.clientWidth, wrap.clientHeight);
    canvas.show_info = false;
    canvas.render_canvas_border = false;
    LiteGraph.release_link_on_empty_shows_menu = true;
    // Double-click on the canvas: our palette instead of litegraph's search box.
    (canvas as unknown as { showSearchBox: (e: MouseEvent) => HTMLDivElement }).showSearchBox = (e) => {
      const pos = canvas.convertEventToCanvasOffset(
        e as unknown as Parameters<LGraphCanvas['convertEventToCanvasOffset']>[0],
      );
      this.palette.open({
        clientX: e?.clientX ?? 200,
        clientY: e?.clientY ?? 200,
        onPick: (s) => this.addNode(s.type, [pos[0], pos[1]]),
      });
      return document.createElement('div');
    };
    // A link dropped on empty canvas: the palette, filtered to nodes that can take it.
    (canvas as unknown as { showConnectionMenu: (o: Record<string, unknown>) => void }).showConnectionMenu = (
      o,
    ) => {
      const e = o.e as MouseEvent;
      const pos = canvas.convertEventToCanvasOffset(
        e as unknown as Parameters<LGraphCanvas['convertEventToCanvasOffset']>[0],
      );
      const from = o.nodeFrom as LGraphNode | undefined;
      const to = o.nodeTo as LGraphNode | undefined;
      const slot = (o.slotFrom ?? o.slotTo) as { type: string } | undefined;
      if (!slot) return;
      this.palette.open({
        clientX: e.clientX,
        clientY: e.clientY,
        filter: { direction: from ? 'in' : 'out', type: String(slot.type) },
        onPick: (s) => {
          const node = this.addNode(s.type, [pos[0], pos[1]]);
          if (!node) return;
          if (from) from.connectByType(from.outputs.indexOf(slot as never), node, slot.type);
          else if (to) to.connectByTypeOutput(to.inputs.indexOf(slot as never), node, slot.type);
        },
      });
    };
    canvasEl.addEventListener('dragover', (e) => e.preventDefault());
    canvasEl.addEventListener('drop', (e) => void this.onDrop(e));
  }

  redraw(): void {
    this.canvas?.setDirty(true, true);
  }

  // ---------------------------------------------------------------- start

  async start(): Promise<void> {
    // Everything the first screen needs is requested at once; the shell is built meanwhile.
    performance.mark('ddit:start');
    const stored = this.readStored();
    const same = this.api.base === location.origin;
    const infoP = takePrefetched<ObjectInfoMap>('object_info', same).then((v) => v ?? this.api.objectInfo());
    const extP = takePrefetched<unknown>('extensions', same).then((v) =>
      Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : this.api.listExtensions(),
    );
    // Extension modules are fetched and parsed now; they run once the first workflow is drawn.
    void extP.then(
      (paths) => {
        for (const p of paths) {
          document.head.append(h('link', { rel: 'modulepreload', href: this.extensionSrc(p) }));
        }
      },
      () => {},
    );
    const defaultP = stored ? null : this.api.getWorkflow(DEFAULT_WORKFLOW);
    infoP.catch(() => {});
    extP.catch(() => {});
    defaultP?.catch(() => {});
    const canvasEl = this.buildShell();
    this.setupCanvas(canvasEl);
    this.installKeys();
    window.addEventListener('error', (e) => {
      if (e.filename && e.filename.includes('/extensions/'))
        toast(`Editor extension error: ${e.message}`, 'error');
    });
    window.dditEditor = this.publicApi();
    this.socket.connect();
    performance.mark('ddit:shell');
    try {
      const info = await infoP;
      performance.mark('ddit:object_info');
      this.setNodeTypes(info);
      performance.mark('ddit:node_types');
    } catch (err) {
      this.showBanner(`Cannot load node types: ${(err as Error).message}`);
    }
    await this.restoreWorkflow(stored, defaultP);
    performance.mark('ddit:workflow');
    setInterval(() => this.autosave(), 1000);
    window.addEventListener('beforeunload', () => this.autosave());
    this.ready = { ms: Math.round(performance.now()) };
    window.dispatchEvent(new CustomEvent('ddit:ready', { detail: this.ready }));
    void this.queuePanel.refresh();
    // Extensions load after the first paint; each one is shown the nodes already on the canvas.
    try {
      const paths = await extP;
      await this.extensions.load(paths.map((p) => ({ path: p, src: this.extensionSrc(p) })));
    } catch (err) {
      console.warn('ddit: extensions not loaded:', (err as Error).message);
    }
    this.extensions.settled = true;
    performance.mark('ddit:extensions');
    this.redraw();
  }

  async loadNodeTypes(): Promise<void> {
    this.setNodeTypes(await this.api.objectInfo());
  }

  private setNodeTypes(info: ObjectInfoMap): void {
    this.specs = Object.values(info).map(interpretNodeDef);
    this.specMap = Object.fromEntries(this.specs.map((s) => [s.type, s]));
    registerNodeTypes(this.specs);
    const menu = buildCategoryMenu(this.specs, (s) => {
      this.el.nodesMenu.hidden = true;
      const c = this.canvas.ds;
      const w = this.canvas.canvas;
      this.addNode(s.type, [
        w.width / 2 / c.scale - c.offset[0] - 120,
        w.height / 2 / c.scale - c.offset[1] - 60,
      ]);
    });
    this.el.nodesMenu.replaceChildren(menu);
    this.hideBanner();
  }

  private extensionSrc(p: string): string {
    return /^https?:/.test(p) ? p : this.api.url(p.startsWith('/') ? p : `/${p}`);
  }

  private readStored(): Stored | null {
    try {
      const raw = localStorage.getItem(STORE_KEY);
      const stored = raw ? (JSON.parse(raw) as Stored) : null;
      return stored?.doc ? stored : null;
    } catch {
      return null;
    }
  }

  private async restoreWorkflow(stored: Stored | null, defaultDoc: Promise<unknown> | null): Promise<void> {
    if (stored) {
      try {
        this.loadDocument(stored.doc, stored.name, stored.savedKey);
        return;
      } catch (err) {
        toast(`Could not restore the last workflow: ${(err as Error).message}`, 'error');
      }
    }
    try {
      this.loadDocument(await (defaultDoc ?? this.api.getWorkflow(DEFAULT_WORKFLOW)), DEFAULT_WORKFLOW);
    } catch {
      this.graph.clear();
      this.workflowName = null;
      this.savedKey = null;
      this.updateTitle();
    }
  }

  // ---------------------------------------------------------------- workflows

  /** Puts a document on the canvas; `savedKey` marks it as unchanged from the library copy. */
  loadDocument(doc: unknown, name: string | null, savedKey?: string | null): void {
    const before = isEditorWorkflowDoc(doc) ? workflowKey(doc) : null;
    const missing = this.io.load(doc);
    this.el.loop.value = String(this.iterations);
    // Documents without a saved view (API format, hand-written files) are framed to show every node.
    const ds = (doc as { extra?: { ds?: unknown } } | null)?.extra?.ds;
    if (!ds) this.fitView();
    for (const n of this.graph._nodes) if (isEditorNode(n)) n.live.error = null;
    this.workflowName = name;
    const key = workflowKey(this.io.serialize());
    // Loading normalises a document (ids, link tuples, defaults); a restored copy that matched its saved
    // version still does.
    if (savedKey === undefined) this.savedKey = name ? key : null;
    else this.savedKey = savedKey !== null && before === savedKey ? key : savedKey;
    this.storedKey = '';
    this.updateTitle();
    this.redraw();
    if (missing.length)
      toast(`This workflow uses node types the server does not have: ${missing.join(', ')}`, 'error');
    this.autosave();
  }

  async openWorkflow(name: string): Promise<void> {
    const doc = await this.api.getWorkflow(name);
    this.loadDocument(doc, name);
  }

  async save(asNew = false): Promise<boolean> {
    let name = this.workflowName;
    if (asNew || !name) {
      name = await promptText('Save workflow', 'Name in the library', name ?? '');
      if (!name) return false;
      name = name.trim().replace(/\.json$/i, '');
      if (!name) return false;
    }
    const doc = this.io.serialize();
    try {
      await this.api.saveWorkflow(name, doc);
    } catch (err) {
      toast((err as Error).message, 'error');
      return false;
    }
    this.workflowName = name;
    this.savedKey = workflowKey(doc);
    this.storedKey = '';
    this.autosave();
    toast(`Saved "${name}"`, 'success');
    return true;
  }

  newWorkflow(): void {
    this.graph.clear();
    this.graph.extra = {};
    this.el.loop.value = '1';
    this.canvas.ds.reset();
    this.workflowName = null;
    this.savedKey = null;
    this.storedKey = '';
    this.autosave();
    this.redraw();
  }

  private openLibrary(): void {
    void openLibrary(this.api, {
      open: (n) => this.openWorkflow(n),
      toast,
      current: () => this.workflowName,
    });
  }

  private exportFile(): void {
    const doc = this.io.serialize();
    const blob = new Blob([JSON.stringify(doc, null, 2)], { type: 'application/json' });
    const a = h('a', {
      href: URL.createObjectURL(blob),
      download: `${(this.workflowName ?? 'workflow').replace(/[\\/]/g, '_')}.json`,
    });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }

  private importFile(): void {
    const input = h('input', { type: 'file', accept: '.json,application/json,image/png', hidden: true });
    input.addEventListener('change', () => {
      const f = input.files?.[0];
      input.remove();
      if (f) void this.loadFile(f);
    });
    document.body.append(input);
    input.click();
  }

  async loadFile(file: File): Promise<void> {
    try {
      const doc = await workflowFromFile(file);
      this.loadDocument(doc, null);
      toast(`Opened ${file.name}`, 'success');
    } catch (err) {
      toast((err as Error).message, 'error');
    }
  }

  private autosave(): void {
    let doc: EditorWorkflow;
    try {
      doc = this.io.serialize();
    } catch {
      return;
    }
    const key = workflowKey(doc);
    const dirty = key !== this.savedKey;
    this.updateTitle(dirty);
    const full = JSON.stringify(doc);
    if (full === this.storedKey) return;
    this.storedKey = full;
    try {
      const stored: Stored = { name: this.workflowName, doc, savedKey: this.savedKey };
      localStorage.setItem(STORE_KEY, JSON.stringify(stored));
    } catch {
      // storage full: keep working, the library still saves
    }
  }

  get dirty(): boolean {
    return workflowKey(this.io.serialize()) !== this.savedKey;
  }

  private updateTitle(
    dirty = this.savedKey === null || workflowKey(this.io.serialize()) !== this.savedKey,
  ): void {
    const name = this.workflowName ?? 'untitled';
    this.el.name.textContent = dirty ? `${name} •` : name;
    this.el.name.dataset.dirty = String(dirty);
    this.el.name.dataset.name = this.workflowName ?? '';
    document.title = `${dirty ? '• ' : ''}${name} · ddit studio`;
  }

  // ---------------------------------------------------------------- running

  /** Iterations of the open workflow (its `extra.loop_iterations`, 1 when unset). */
  get iterations(): number {
    return Math.max(1, Math.floor(Number(this.graph.extra.loop_iterations ?? 1)) || 1);
  }

  queue(front = false): Promise<string | null> {
    return this.runner.queue({ front, iterations: this.iterations });
  }

  async interrupt(promptId?: string): Promise<void> {
    try {
      await this.api.interrupt(promptId ?? this.runner.running ?? undefined);
    } catch (err) {
      toast((err as Error).message, 'error');
    }
  }

  private setOverall(f: number | null, label: string): void {
    this.el.bar.style.width = f === null ? '0' : `${Math.round(f * 100)}%`;
    this.el.bar.parentElement!.dataset.active = String(f !== null);
    this.el.barLabel.textContent = f === null ? label : `${Math.round(f * 100)}% · ${label}`;
    this.el.queueCount.textContent = String(this.runner.queueRemaining);
  }

  private onMessage(m: WsMessage): void {
    this.runner.handleMessage(m);
    for (const key of [m.type, '*']) {
      for (const fn of this.listeners.get(key) ?? []) {
        try {
          fn(m.data, m.type);
        } catch (err) {
          console.error('ddit: listener failed', err);
        }
      }
    }
  }

  private onSocketState(s: SocketState, reconnected: boolean): void {
    this.el.conn.dataset.state = s;
    this.el.conn.textContent =
      s === 'open' ? 'connected' : s === 'connecting' ? 'connecting…' : 'reconnecting…';
    this.el.conn.title =
      s === 'open' ? `connected to ${this.api.base}` : `server ${this.api.base} unreachable; retrying`;
    if (s === 'open' && reconnected) {
      toast('Reconnected to the server', 'success');
      if (!this.specs.length) void this.loadNodeTypes().catch(() => {});
      this.runner.running = null;
      void this.queuePanel.refresh();
    }
  }

  private showBanner(text: string): void {
    const b = this.el.banner;
    b.replaceChildren(
      h('span', {}, text),
      (() => {
        const s = h('button', { class: 'small' }, 'Settings');
        s.addEventListener('click', () => openSettings(this.settings, () => location.reload()));
        return s;
      })(),
      (() => {
        const r = h('button', { class: 'small' }, 'Retry');
        r.addEventListener(
          'click',
          () =>
            void this.loadNodeTypes().catch((e: Error) =>
              this.showBanner(`Cannot load node types: ${e.message}`),
            ),
        );
        return r;
      })(),
    );
    b.hidden = false;
  }

  private hideBanner(): void {
    this.el.banner.hidden = true;
  }

  /** Frames every node (never zooming in past 100%). */
  fitView(): void {
    const nodes = this.graph._nodes;
    if (!nodes.length || !this.canvas) return;
    const titleH = LiteGraph.NODE_TITLE_HEIGHT;
    let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const n of nodes) {
      x0 = Math.min(x0, n.pos[0]);
      y0 = Math.min(y0, n.pos[1] - titleH);
      x1 = Math.max(x1, n.pos[0] + n.size[0]);
      y1 = Math.max(y1, n.pos[1] + n.size[1]);
    }
    const ds = this.canvas.ds;
    const el = this.canvas.canvas;
    const margin = 40;
    const scale = Math.min(1, (el.width - 2 * margin) / (x1 - x0), (el.height - 2 * margin) / (y1 - y0));
    ds.scale = Math.max(0.2, scale);
    ds.offset[0] = -x0 + (el.width / ds.scale - (x1 - x0)) / 2;
    ds.offset[1] = -y0 + (el.height / ds.scale - (y1 - y0)) / 2;
    this.redraw();
  }

  // ---------------------------------------------------------------- nodes

  addNode(type: string, pos?: [number, number]): LGraphNode | null {
    const node = LiteGraph.createNode(type);
    if (!node) {
      toast(`Unknown node type ${type}`, 'error');
      return null;
    }
    if (pos) node.pos = [pos[0], pos[1]];
    this.graph.add(node);
    this.canvas.selectNode(node);
    this.redraw();
    return node;
  }

  private openNodeImages(n: EditorNode, index: number): void {
    const live = n.live;
    let list = live.outputImages;
    if (live.runState === 'running' && live.preview) list = [live.preview];
    else if (!list.length && live.preview) list = [live.preview];
    else if (!list.length && live.sample?.images.length) list = live.sample.images;
    else if (!list.length && live.inputImage) list = [live.inputImage];
    openImages(
      list.map((im, i) => ({
        src: im.src,
        name: im.ref?.filename ?? `${n.title}-preview-${i}.png`,
        download: im.ref
          ? this.api.url('/view', {
              filename: im.ref.filename,
              subfolder: im.ref.subfolder ?? '',
              type: im.ref.type ?? 'output',
            })
          : im.src,
      })),
      index,
    );
  }

  private uploadWidget(n: EditorNode): string | undefined {
    return n.spec.widgets.find((w) => w.imageUpload)?.name;
  }

  private pickUpload(n: EditorNode, widget: string): void {
    const input = h('input', { type: 'file', accept: 'image/*', hidden: true });
    input.addEventListener('change', () => {
      const f = input.files?.[0];
      input.remove();
      if (f) void this.uploadTo(n, widget, f);
    });
    document.body.append(input);
    input.click();
  }

  async uploadTo(n: EditorNode, widget: string, file: File): Promise<void> {
    try {
      const r = await this.api.uploadImage(file, file.name);
      const value = r.subfolder ? `${r.subfolder}/${r.name}` : r.name;
      n.setWidgetValue(widget, value);
      n.widgetChanged(widget);
      toast(`Uploaded ${r.name}`, 'success');
    } catch (err) {
      toast(err instanceof ApiError ? err.message : `Upload failed: ${(err as Error).message}`, 'error');
    }
  }

  private async onDrop(e: DragEvent): Promise<void> {
    e.preventDefault();
    const file = e.dataTransfer?.files?.[0];
    if (!file) return;
    const pos = this.canvas.convertEventToCanvasOffset(
      e as unknown as Parameters<LGraphCanvas['convertEventToCanvasOffset']>[0],
    );
    const target = this.graph.getNodeOnPos(pos[0], pos[1]);
    if (target && isEditorNode(target) && file.type.startsWith('image/')) {
      const w = this.uploadWidget(target);
      if (w) {
        await this.uploadTo(target, w, file);
        return;
      }
    }
    await this.loadFile(file);
  }

  private installKeys(): void {
    document.addEventListener(
      'keydown',
      (e) => {
        const mod = e.ctrlKey || e.metaKey;
        if (mod && e.key === 'Enter') {
          e.preventDefault();
          e.stopPropagation();
          void this.queue(e.shiftKey);
        } else if (mod && (e.key === 's' || e.key === 'S')) {
          e.preventDefault();
          void this.save(e.shiftKey);
        } else if (mod && (e.key === 'o' || e.key === 'O')) {
          e.preventDefault();
          this.openLibrary();
        } else if (e.key === '.' && !mod && !(e.target as HTMLElement | null)?.closest?.('input, textarea')) {
          this.fitView();
        }
      },
      true,
    );
  }

  // ---------------------------------------------------------------- public API

  on(type: string, fn: Listener): () => void {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type)!.add(fn);
    return () => this.listeners.get(type)?.delete(fn);
  }

  publicApi(): DditEditorApi {
    return {
      version: 1,
      graph: this.graph,
      canvas: this.canvas,
      LiteGraph,
      LGraphNode,
      api: this.api,
      get ready() {
        return editorRef?.ready ?? null;
      },
      registerExtension: (ext) => this.extensions.register(ext),
      queue: () => this.queue(),
      interrupt: () => this.interrupt(),
      serialize: () => this.io.serialize(),
      toApiPrompt: () => this.runner.buildPrompt().prompt,
      loadWorkflow: (doc, name = null) => this.loadDocument(doc, name),
      openWorkflow: (name) => this.openWorkflow(name),
      saveWorkflow: (name) => {
        if (name) this.workflowName = name;
        return this.save(false);
      },
      addNode: (type, pos) => this.addNode(type, pos),
      nodeSpecs: () => this.specs,
      on: (type, fn) => this.on(type, fn),
      toast: (msg, kind) => void toast(msg, kind),
      get workflowName() {
        return editorRef?.workflowName ?? null;
      },
      get dirty() {
        return editorRef?.dirty ?? false;
      },
      extensions: this.extensions,
      runner: this.runner,
      socket: this.socket,
    };
  }
}

let editorRef: Editor | null = null;

export interface DditEditorApi {
  version: number;
  graph: LGraph;
  canvas: LGraphCanvas;
  LiteGraph: typeof LiteGraph;
  LGraphNode: typeof LGraphNode;
  api: Api;
  readonly ready: { ms: number } | null;
  registerExtension(ext: EditorExtension): void;
  queue(): Promise<string | null>;
  interrupt(): Promise<void>;
  serialize(): EditorWorkflow;
  toApiPrompt(): ApiPrompt;
  loadWorkflow(doc: unknown, name?: string | null): void;
  openWorkflow(name: string): Promise<void>;
  saveWorkflow(name?: string): Promise<boolean>;
  addNode(type: string, pos?: [number, number]): LGraphNode | null;
  nodeSpecs(): NodeSpec[];
  on(type: string, fn: (data: Record<string, unknown>, type: string) => void): () => void;
  toast(msg: string, kind?: 'info' | 'error' | 'success'): void;
  readonly workflowName: string | null;
  readonly dirty: boolean;
  extensions: ExtensionHost;
  runner: Runner;
  socket: ServerSocket;
}

export function setEditorRef(e: Editor): void {
  editorRef = e;
}

declare global {
  interface Window {
    /** The editor's public API (docs/editor-extensions.md). */
    dditEditor: DditEditorApi;
  }
}
