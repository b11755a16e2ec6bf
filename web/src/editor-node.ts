/**
 * Litegraph node classes built from /object_info: typed, coloured sockets; a widget per constant input
 * (each also accepts a link of its type); a control widget after seed-like inputs; named widget values
 * in the saved workflow; and the live state drawn on the node while and after it runs.
 */
import { LGraphCanvas, LGraphNode, LiteGraph } from '@comfyorg/litegraph';
import type { Point } from '@comfyorg/litegraph';
import {
  CONTROL_MODES,
  clampWidgetNumber,
  widgetSocketType,
  type ControlMode,
  type NodeSpec,
  type WidgetSpec,
} from './node-defs';
import { LiveState, loadImage } from './live-state';
import {
  COLORS,
  drawContent,
  drawErrorBox,
  drawProgress,
  planContent,
  wantedContentHeight,
  type HitArea,
} from './node-drawing';
import { typeColor } from './type-colors';

type IBaseWidget = NonNullable<LGraphNode['widgets']>[number];
type ISerialisedNode = ReturnType<LGraphNode['serialize']>;
type SlotLike = { color_on?: unknown; color_off?: unknown; tooltip?: string };

/** The property under which control-after-generate modes are saved ({widget name: mode}). */
export const CONTROL_PROPERTY = 'control_after_generate';
export const CONTROL_WIDGET_SUFFIX = ' control';

/** Hooks the editor installs (extensions, autosave, upload, enlarge). */
export interface NodeHooks {
  created(node: EditorNode): void;
  changed(node: EditorNode): void;
  openImage(node: EditorNode, index: number): void;
  openText(node: EditorNode): void;
  pickUpload(node: EditorNode, widget: string): void;
  inputImageUrl(filename: string): string;
}

let hooks: NodeHooks = {
  created: () => {},
  changed: () => {},
  openImage: () => {},
  openText: () => {},
  pickUpload: () => {},
  inputImageUrl: (f) => f,
};

export function setNodeHooks(h: NodeHooks): void {
  hooks = h;
}

interface MultilineWidget {
  type: 'ddit_multiline';
  name: string;
  value: string;
  options: { placeholder?: string };
  y: number;
  computedHeight?: number;
  disabled?: boolean;
  computedDisabled?: boolean;
  draw(ctx: CanvasRenderingContext2D, node: LGraphNode, width: number, y: number, H: number): void;
  mouse(e: PointerEvent, pos: Point, node: LGraphNode): boolean;
  computeSize(width?: number): [number, number];
}

const MULTILINE_LINES = 4;

function multilineWidget(spec: WidgetSpec, node: EditorNode): MultilineWidget {
  const w: MultilineWidget = {
    type: 'ddit_multiline',
    name: spec.name,
    value: String(spec.default ?? ''),
    options: { placeholder: spec.placeholder },
    y: 0,
    draw(ctx, _node, width, y) {
      const hgt = MULTILINE_LINES * 15 + 8;
      ctx.save();
      ctx.fillStyle = LiteGraph.WIDGET_BGCOLOR;
      ctx.strokeStyle = node.live.error?.inputs.has(spec.name)
        ? COLORS.error
        : LiteGraph.WIDGET_OUTLINE_COLOR;
      ctx.beginPath();
      ctx.roundRect(15, y, width - 30, hgt, 6);
      ctx.fill();
      ctx.stroke();
      ctx.font = '12px Arial';
      ctx.textBaseline = 'top';
      ctx.fillStyle = LiteGraph.WIDGET_SECONDARY_TEXT_COLOR;
      ctx.fillText(spec.name, 22, y + 3);
      ctx.fillStyle = w.value ? LiteGraph.WIDGET_TEXT_COLOR : '#777';
      const text = w.value || spec.placeholder || '';
      const lines = text.split('\n').flatMap((l) => {
        const out: string[] = [];
        let cur = '';
        for (const word of l.split(' ')) {
          const next = cur ? `${cur} ${word}` : word;
          if (cur && ctx.measureText(next).width > width - 50) {
            out.push(cur);
            cur = word;
          } else cur = next;
        }
        out.push(cur);
        return out;
      });
      lines.slice(0, MULTILINE_LINES - 1).forEach((l, i) => ctx.fillText(l, 22, y + 18 + i * 15));
      ctx.restore();
    },
    mouse(e, _pos, n) {
      if (e.type !== 'pointerdown') return false;
      const canvas = LGraphCanvas.active_canvas;
      canvas.prompt(
        spec.name,
        w.value,
        (v: string) => {
          w.value = v;
          (n as EditorNode).widgetChanged(spec.name);
        },
        e as unknown as Parameters<LGraphCanvas['prompt']>[3],
        true,
      );
      return true;
    },
    computeSize(width) {
      return [width ?? 200, MULTILINE_LINES * 15 + 8];
    },
  };
  return w;
}

function decimals(step: number | undefined, round: number | undefined): number {
  const v = round ?? step;
  if (!v || v >= 1) return v && v >= 1 ? 0 : 2;
  return Math.min(6, Math.max(0, Math.ceil(-Math.log10(v) - 1e-9)));
}

export class EditorNode extends LGraphNode {
  static spec: NodeSpec;
  declare live: LiveState;
  /** Clickable areas of the content, in node coordinates. */
  hits: HitArea[] = [];

  constructor(title?: string) {
    super(title ?? '');
    this.live = new LiveState();
    const spec = this.spec;
    this.serialize_widgets = true;
    for (const s of spec.sockets) {
      const slot: SlotLike = this.addInput(s.name, s.type);
      if (s.tooltip) slot.tooltip = s.tooltip;
      this.colorSlot(slot, s.type);
    }
    for (const w of spec.widgets) this.addSpecWidget(w);
    for (const o of spec.outputs) {
      const slot: SlotLike = this.addOutput(o.name, o.type);
      if (o.tooltip) slot.tooltip = o.tooltip;
      this.colorSlot(slot, o.type);
    }
    const [w, h] = this.computeSize();
    this.size = [Math.max(w, 240), h];
    if (spec.outputNode) this.color = '#2e4d3a';
    if (spec.deprecated) this.bgcolor = '#3a2a2a';
    // LGraphNode sets onMouseDown per instance (title buttons), so ours is chained here, not overridden.
    const base = this.onMouseDown;
    this.onMouseDown = (e, pos, canvas) => this.contentMouseDown(pos) || !!base?.call(this, e, pos, canvas);
    this.type = spec.type;
    hooks.created(this);
  }

  get spec(): NodeSpec {
    return (this.constructor as typeof EditorNode).spec;
  }

  private colorSlot(slot: SlotLike, type: string): void {
    slot.color_on = typeColor(type);
    slot.color_off = typeColor(type);
  }

  private addSpecWidget(spec: WidgetSpec): void {
    const changed = () => this.widgetChanged(spec.name);
    let widget: IBaseWidget;
    switch (spec.kind) {
      case 'INT':
      case 'FLOAT': {
        const step = spec.step ?? (spec.kind === 'INT' ? 1 : 0.01);
        const slider = spec.display === 'slider' && spec.min !== undefined && spec.max !== undefined;
        widget = this.addWidget(
          slider ? 'slider' : 'number',
          spec.name,
          spec.default as number,
          (v: number) => {
            const c = clampWidgetNumber(spec, Number(v));
            if (c !== v) widget.value = c;
            changed();
          },
          {
            min: spec.min,
            max: spec.max,
            step2: step,
            step: step * 10,
            precision: spec.kind === 'INT' ? 0 : decimals(spec.step, spec.round),
          },
        );
        break;
      }
      case 'STRING':
        if (spec.multiline) {
          widget = this.addCustomWidget(multilineWidget(spec, this) as unknown as IBaseWidget);
        } else {
          widget = this.addWidget('text', spec.name, String(spec.default ?? ''), changed, {});
        }
        break;
      case 'BOOLEAN':
        widget = this.addWidget('toggle', spec.name, Boolean(spec.default), changed, {
          on: spec.labelOn ?? 'true',
          off: spec.labelOff ?? 'false',
        });
        break;
      case 'COMBO':
        widget = this.addWidget(
          'combo',
          spec.name,
          spec.default as string,
          () => {
            if (spec.imageUpload) this.refreshInputImage(spec.name);
            changed();
          },
          { values: spec.choices ?? [] },
        );
        break;
    }
    if (spec.tooltip) widget.tooltip = spec.tooltip;
    const slot = this.addInput(spec.name, widgetSocketType(spec), { widget: { name: spec.name } });
    this.colorSlot(slot, spec.kind);
    if (spec.control) {
      const ctl = this.addWidget(
        'combo',
        `${spec.name}${CONTROL_WIDGET_SUFFIX}`,
        spec.control,
        () => this.widgetChanged(spec.name),
        { values: [...CONTROL_MODES] },
      );
      ctl.serialize = false;
    }
    if (spec.imageUpload) {
      const btn = this.addWidget('button', 'choose image to upload', '', () =>
        hooks.pickUpload(this, spec.name),
      );
      btn.serialize = false;
      setTimeout(() => this.refreshInputImage(spec.name), 0);
    }
  }

  /** Widgets that hold input values (not control combos or buttons). */
  valueWidgets(): IBaseWidget[] {
    const names = new Set(this.spec.widgets.map((w) => w.name));
    return (this.widgets ?? []).filter((w) => names.has(w.name));
  }

  widget(name: string): IBaseWidget | undefined {
    return this.widgets?.find((w) => w.name === name);
  }

  /** Control mode of a seed-like widget. */
  controlMode(name: string): ControlMode | undefined {
    return this.widget(`${name}${CONTROL_WIDGET_SUFFIX}`)?.value as ControlMode | undefined;
  }

  setControlMode(name: string, mode: string): void {
    const w = this.widget(`${name}${CONTROL_WIDGET_SUFFIX}`);
    if (w && (CONTROL_MODES as readonly string[]).includes(mode)) w.value = mode;
  }

  widgetChanged(name: string): void {
    if (this.live.error) {
      this.live.error.inputs.delete(name);
      if (!this.live.error.inputs.size) this.live.error = null;
    }
    this.setDirtyCanvas(true, true);
    hooks.changed(this);
  }

  /** Sets a widget value by name (clamped for numbers); false when there is no such widget. */
  setWidgetValue(name: string, value: unknown): boolean {
    const w = this.widget(name);
    const spec = this.spec.widgets.find((s) => s.name === name);
    if (!w || !spec) return false;
    if (spec.kind === 'INT' || spec.kind === 'FLOAT') w.value = clampWidgetNumber(spec, Number(value));
    else if (spec.kind === 'BOOLEAN') w.value = Boolean(value);
    else if (spec.kind === 'COMBO') {
      const v = String(value);
      if (spec.imageUpload && spec.choices && !spec.choices.includes(v)) spec.choices.push(v);
      w.value = v;
      if (spec.imageUpload) this.refreshInputImage(name);
    } else w.value = String(value ?? '');
    this.setDirtyCanvas(true, true);
    return true;
  }

  refreshInputImage(name: string): void {
    const v = this.widget(name)?.value;
    if (typeof v !== 'string' || !v) {
      this.live.inputImage = null;
      return;
    }
    this.live.inputImage = loadImage(hooks.inputImageUrl(v), () => this.growFor(), {
      filename: v,
      type: 'input',
    });
  }

  override onSerialize(o: ISerialisedNode): void {
    const values: Record<string, unknown> = {};
    for (const w of this.valueWidgets()) values[w.name] = w.value;
    (o as { widgets_values?: unknown }).widgets_values = values;
    const controls: Record<string, string> = {};
    for (const s of this.spec.widgets) {
      const m = s.control ? this.controlMode(s.name) : undefined;
      if (m) controls[s.name] = m;
    }
    if (Object.keys(controls).length)
      o.properties = { ...(o.properties ?? {}), [CONTROL_PROPERTY]: controls };
  }

  override onConfigure(o: ISerialisedNode): void {
    const wv = (o as { widgets_values?: unknown }).widgets_values;
    // litegraph already applied a positional array; map it again by name so the control values that
    // ComfyUI interleaves after seeds do not shift the widgets that follow.
    if (Array.isArray(wv)) {
      let i = 0;
      for (const s of this.spec.widgets) {
        if (i >= wv.length) break;
        this.setWidgetValue(s.name, wv[i++]);
        if (s.control && typeof wv[i] === 'string' && (CONTROL_MODES as readonly string[]).includes(wv[i])) {
          this.setControlMode(s.name, wv[i++]);
        }
      }
    } else if (wv && typeof wv === 'object') {
      for (const [k, v] of Object.entries(wv as Record<string, unknown>)) this.setWidgetValue(k, v);
    }
    const controls = (o.properties as Record<string, unknown> | undefined)?.[CONTROL_PROPERTY];
    if (controls && typeof controls === 'object') {
      for (const [k, v] of Object.entries(controls as Record<string, string>)) this.setControlMode(k, v);
    }
    // Sockets saved by another version of a node keep their colours.
    for (const slot of this.inputs) {
      const wname = slot.widget?.name;
      const ws = wname ? this.spec.widgets.find((s) => s.name === wname) : undefined;
      this.colorSlot(slot, ws ? ws.kind : String(slot.type));
    }
    for (const slot of this.outputs) this.colorSlot(slot, String(slot.type));
  }

  /** Grows the node so its live content fits (never shrinks what the user sized). */
  growFor(ctx: CanvasRenderingContext2D | null = null): void {
    const plan = planContent(this.live);
    const want = wantedContentHeight(ctx, plan, this.size[0]);
    const base = this.computeSize()[1];
    if (want && this.size[1] < base + want) this.setSize([Math.max(this.size[0], 260), base + want]);
    this.setDirtyCanvas(true, true);
  }

  override onDrawForeground(ctx: CanvasRenderingContext2D): void {
    const live = this.live;
    const [w, h] = this.size;
    const titleH = LiteGraph.NODE_TITLE_HEIGHT;
    if (live.runState === 'running' || live.error) {
      ctx.save();
      ctx.strokeStyle = live.error ? COLORS.error : COLORS.executing;
      ctx.lineWidth = 3;
      ctx.beginPath();
      ctx.roundRect(-4, -titleH - 4, w + 8, h + titleH + 8, 10);
      ctx.stroke();
      ctx.restore();
    }
    if (live.progress && live.runState === 'running')
      drawProgress(ctx, live.progress.value, live.progress.max, w);
    const top = this.computeSize()[1];
    const plan = planContent(live);
    this.hits = drawContent(ctx, live, plan, [0, top, w, h - top]);
    if (live.error) {
      for (const [name] of live.error.inputs) this.drawInputError(ctx, name);
      drawErrorBox(ctx, live.error.message, h + 8, Math.max(w, 220));
    }
  }

  private drawInputError(ctx: CanvasRenderingContext2D, name: string): void {
    const idx = this.inputs.findIndex((i) => i.name === name || i.widget?.name === name);
    const widget = this.widget(name);
    ctx.save();
    ctx.strokeStyle = COLORS.error;
    ctx.lineWidth = 2;
    if (widget && widget.y !== undefined && !this.inputs[idx]?.link) {
      const wh = (widget as { computedHeight?: number }).computedHeight ?? LiteGraph.NODE_WIDGET_HEIGHT + 4;
      ctx.beginPath();
      ctx.roundRect(12, widget.y - 1, this.size[0] - 24, wh - 2, 8);
      ctx.stroke();
    } else if (idx >= 0) {
      const p = this.getInputPos(idx);
      ctx.beginPath();
      ctx.arc(p[0] - this.pos[0], p[1] - this.pos[1], 8, 0, Math.PI * 2);
      ctx.stroke();
    }
    ctx.restore();
  }

  /** A click on the content (images, text): enlarge it. */
  contentMouseDown(pos: Point): boolean {
    for (const hit of this.hits) {
      const [x, y, w, h] = hit.rect;
      if (pos[0] >= x && pos[0] <= x + w && pos[1] >= y && pos[1] <= y + h) {
        if (hit.kind === 'image') hooks.openImage(this, hit.index ?? 0);
        else if (hit.kind === 'text') hooks.openText(this);
        return true;
      }
    }
    return false;
  }

  override onRemoved(): void {
    this.live.dispose();
  }
}

/** Registers (or replaces) a litegraph node class per node spec. */
export function registerNodeTypes(specs: NodeSpec[]): void {
  for (const spec of specs) {
    const cls = class extends EditorNode {
      static override spec = spec;
      static override title = spec.title;
    };
    LiteGraph.registerNodeType(spec.type, cls);
    // registerNodeType derives the category from a slash in the type; ours comes from the server.
    cls.category = spec.category;
  }
  for (const spec of specs) {
    for (const t of [...spec.sockets.map((s) => s.type), ...spec.outputs.map((o) => o.type)]) {
      for (const one of t.split(',')) {
        LGraphCanvas.link_type_colors[one] = typeColor(one);
      }
    }
  }
}

export function isEditorNode(n: unknown): n is EditorNode {
  return n instanceof EditorNode;
}
