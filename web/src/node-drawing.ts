/**
 * Canvas drawing of a node's live state, in the node's own coordinates (origin at the top-left of the
 * body, title above). Each function draws into a box and returns nothing; layout is decided by
 * `layoutContent` from what there is to show.
 */
import type { LiveState, LoadedImage } from './live-state';
import { SERIES, formatMetric, project, type MetricsHistory } from './metrics-chart';
import { layoutPieces, textStatePieces, textStatePlain } from './text-state';
import type { TextState } from './protocol';

export type Rect = [number, number, number, number];

export interface HitArea {
  rect: Rect;
  kind: 'image' | 'text' | 'chart';
  index?: number;
}

export const CHART_HEIGHT = 150;
const LINE_H = 16;
const PAD = 8;
const FONT = '13px Arial';
const MONO = '12px monospace';

export const COLORS = {
  fixed: '#8ab4f8',
  generated: '#f1f1f1',
  masked: '#555c66',
  text: '#dddddd',
  dim: '#9a9a9a',
  error: '#ff5c5c',
  progress: '#4caf50',
  executing: '#4caf50',
  panel: 'rgba(0,0,0,0.25)',
};

function wrapLines(ctx: CanvasRenderingContext2D, text: string, width: number, maxLines: number): string[] {
  const out: string[] = [];
  for (const para of text.split('\n')) {
    let line = '';
    for (const word of para.split(/(\s+)/)) {
      const next = line + word;
      if (line && ctx.measureText(next).width > width) {
        out.push(line.trimEnd());
        line = word.trimStart();
      } else line = next;
      while (ctx.measureText(line).width > width && line.length > 1) {
        // a single word longer than the line: hard-break it
        let cut = line.length - 1;
        while (cut > 1 && ctx.measureText(line.slice(0, cut)).width > width) cut--;
        out.push(line.slice(0, cut));
        line = line.slice(cut);
      }
    }
    out.push(line);
    if (out.length >= maxLines) break;
  }
  if (out.length > maxLines) {
    out.length = maxLines;
    out[maxLines - 1] = `${out[maxLines - 1].slice(0, -1)}…`;
  }
  return out;
}

/** How many text lines a string needs at this width (for sizing the node). */
export function measureTextLines(
  ctx: CanvasRenderingContext2D,
  text: string,
  width: number,
  max = 12,
): number {
  ctx.save();
  ctx.font = FONT;
  const n = wrapLines(ctx, text, width, max).length;
  ctx.restore();
  return n;
}

/** Fits images (side by side when several) into a box, keeping their aspect; returns their rects. */
export function drawImages(ctx: CanvasRenderingContext2D, images: LoadedImage[], box: Rect): Rect[] {
  const ready = images.filter((i) => i.img.complete && i.img.naturalWidth > 0);
  const rects: Rect[] = [];
  if (!ready.length || box[2] <= 0 || box[3] <= 0) return rects;
  const n = ready.length;
  const cols = Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / cols);
  const cw = box[2] / cols;
  const ch = box[3] / rows;
  ready.forEach((im, i) => {
    const s = Math.min((cw - 4) / im.img.naturalWidth, (ch - 4) / im.img.naturalHeight);
    const w = im.img.naturalWidth * s;
    const hgt = im.img.naturalHeight * s;
    const x = box[0] + (i % cols) * cw + (cw - w) / 2;
    const y = box[1] + Math.floor(i / cols) * ch + (ch - hgt) / 2;
    ctx.imageSmoothingEnabled = s < 1 || im.img.naturalWidth > 128;
    ctx.drawImage(im.img, x, y, w, hgt);
    rects.push([x, y, w, hgt]);
  });
  ctx.imageSmoothingEnabled = true;
  return rects;
}

/** The masked text sampler's tokens: fixed question in blue, generated text white, masks as blanks. */
export function drawTextState(ctx: CanvasRenderingContext2D, state: TextState, box: Rect): string {
  const [x0, y0, w] = box;
  ctx.save();
  ctx.fillStyle = COLORS.panel;
  ctx.fillRect(x0, y0, w, box[3]);
  ctx.font = FONT;
  ctx.textBaseline = 'middle';
  const pieces = textStatePieces(state);
  const { placed } = layoutPieces(pieces, (s) => ctx.measureText(s).width, w - 2 * PAD, 22);
  const maxLines = Math.max(1, Math.floor((box[3] - LINE_H - PAD) / LINE_H));
  for (const p of placed) {
    if (p.line >= maxLines) break;
    const x = x0 + PAD + p.x;
    const y = y0 + PAD + p.line * LINE_H + LINE_H / 2;
    if (p.kind === 'masked') {
      ctx.fillStyle = COLORS.masked;
      ctx.fillRect(x, y - 5, p.width, 10);
    } else {
      ctx.fillStyle = p.kind === 'fixed' ? COLORS.fixed : COLORS.generated;
      ctx.fillText(p.text, x, y);
    }
  }
  if (state.step !== undefined) {
    ctx.fillStyle = COLORS.dim;
    ctx.font = MONO;
    const masked = pieces.filter((p) => p.kind === 'masked').length;
    ctx.fillText(
      `step ${state.step}${state.steps ? `/${state.steps}` : ''} · ${masked} masked`,
      x0 + PAD,
      y0 + box[3] - LINE_H / 2 - 2,
    );
  }
  ctx.restore();
  return textStatePlain(state);
}

/** Final text of an output node, wrapped. */
export function drawOutputText(ctx: CanvasRenderingContext2D, text: string, box: Rect): void {
  ctx.save();
  ctx.fillStyle = COLORS.panel;
  ctx.fillRect(box[0], box[1], box[2], box[3]);
  ctx.font = FONT;
  ctx.fillStyle = COLORS.text;
  ctx.textBaseline = 'top';
  const lines = wrapLines(ctx, text, box[2] - 2 * PAD, Math.max(1, Math.floor((box[3] - PAD) / LINE_H)));
  lines.forEach((l, i) => ctx.fillText(l, box[0] + PAD, box[1] + PAD / 2 + i * LINE_H));
  ctx.restore();
}

/** Live loss chart: total, image and text loss on the left scale, lr on the right. */
export function drawChart(ctx: CanvasRenderingContext2D, hist: MetricsHistory, box: Rect): void {
  const [x0, y0, w, hgt] = box;
  ctx.save();
  ctx.fillStyle = COLORS.panel;
  ctx.fillRect(x0, y0, w, hgt);
  // Legend rows first (they wrap on narrow nodes), then the plot below them.
  const last = hist.latest;
  ctx.font = '10px monospace';
  const legend: { label: string; color: string; x: number; row: number }[] = [];
  let lx = x0 + 6;
  let row = 0;
  for (const s of SERIES) {
    const label = `${s.label} ${formatMetric(last?.[s.key])}`;
    const lw = ctx.measureText(label).width + 22;
    if (lx > x0 + 6 && lx + lw > x0 + w) {
      row++;
      lx = x0 + 6;
    }
    legend.push({ label, color: s.color, x: lx, row });
    lx += lw;
  }
  const legendH = (row + 1) * 13 + 4;
  const plot: Rect = [x0 + 34, y0 + legendH + 4, w - 34 - 34, hgt - legendH - 20];
  const b = hist.bounds();
  ctx.strokeStyle = '#444';
  ctx.lineWidth = 1;
  ctx.strokeRect(plot[0], plot[1], plot[2], plot[3]);
  ctx.font = '10px monospace';
  ctx.fillStyle = COLORS.dim;
  ctx.textBaseline = 'middle';
  ctx.textAlign = 'right';
  ctx.fillText(formatMetric(b.loss[1]), plot[0] - 3, plot[1]);
  ctx.fillText('0', plot[0] - 3, plot[1] + plot[3]);
  ctx.textAlign = 'left';
  ctx.fillText(formatMetric(b.lr[1]), plot[0] + plot[2] + 3, plot[1]);
  ctx.textAlign = 'center';
  ctx.fillText(`step ${b.step[0]}–${b.step[1]}`, plot[0] + plot[2] / 2, plot[1] + plot[3] + 9);
  for (const s of SERIES) {
    const range = s.axis === 'lr' ? b.lr : b.loss;
    ctx.strokeStyle = s.color;
    ctx.lineWidth = s.key === 'loss' ? 1.8 : 1.2;
    if (s.axis === 'lr') ctx.setLineDash([4, 3]);
    ctx.beginPath();
    let started = false;
    for (const p of hist.points) {
      const v = p[s.key];
      if (typeof v !== 'number' || !Number.isFinite(v)) continue;
      const [px, py] = project(p.step, v, b.step, range, plot[2], plot[3]);
      if (started) ctx.lineTo(plot[0] + px, plot[1] + py);
      else ctx.moveTo(plot[0] + px, plot[1] + py);
      started = true;
    }
    ctx.stroke();
    ctx.setLineDash([]);
  }
  ctx.textAlign = 'left';
  ctx.textBaseline = 'middle';
  ctx.font = '10px monospace';
  for (const l of legend) {
    const ly = y0 + 8 + l.row * 13;
    ctx.fillStyle = l.color;
    ctx.fillRect(l.x, ly - 1, 8, 3);
    ctx.fillText(l.label, l.x + 11, ly);
  }
  ctx.restore();
}

export function drawProgress(ctx: CanvasRenderingContext2D, value: number, max: number, width: number): void {
  const f = max > 0 ? Math.max(0, Math.min(1, value / max)) : 0;
  ctx.save();
  ctx.fillStyle = 'rgba(0,0,0,0.4)';
  ctx.fillRect(0, 0, width, 5);
  ctx.fillStyle = COLORS.progress;
  ctx.fillRect(0, 0, width * f, 5);
  ctx.restore();
}

/** A red box under the node with the server's message. */
export function drawErrorBox(ctx: CanvasRenderingContext2D, message: string, y: number, width: number): void {
  ctx.save();
  ctx.font = '12px Arial';
  const lines = wrapLines(ctx, message, width - 2 * PAD, 6);
  const hgt = lines.length * 15 + PAD;
  ctx.fillStyle = 'rgba(120,20,20,0.92)';
  ctx.beginPath();
  ctx.roundRect(0, y, width, hgt, 6);
  ctx.fill();
  ctx.fillStyle = '#fff';
  ctx.textBaseline = 'top';
  lines.forEach((l, i) => ctx.fillText(l, PAD, y + PAD / 2 + i * 15));
  ctx.restore();
}

export interface ContentPlan {
  images: LoadedImage[];
  imageKind: 'output' | 'preview' | 'input' | 'sample' | null;
  textState: TextState | null;
  text: string | null;
  chart: MetricsHistory | null;
  sampleCaption: string | null;
}

/** Chooses what the node's content area shows now. */
export function planContent(live: LiveState): ContentPlan {
  const running = live.runState === 'running';
  let images: LoadedImage[] = [];
  let imageKind: ContentPlan['imageKind'] = null;
  if (running && live.preview) {
    images = [live.preview];
    imageKind = 'preview';
  } else if (live.outputImages.length) {
    images = live.outputImages;
    imageKind = 'output';
  } else if (live.preview) {
    images = [live.preview];
    imageKind = 'preview';
  } else if (live.sample?.images.length) {
    images = live.sample.images;
    imageKind = 'sample';
  } else if (live.inputImage) {
    images = [live.inputImage];
    imageKind = 'input';
  }
  const outText = live.output?.text?.length ? live.output.text.join('\n') : null;
  const showState = live.textState && (running || !outText);
  return {
    images,
    imageKind,
    textState: showState ? live.textState : null,
    text: showState ? null : outText,
    chart: live.metrics && live.metrics.points.length ? live.metrics : null,
    sampleCaption: live.sample?.caption ?? null,
  };
}

/** Height the content wants below the widgets (the node grows to it, never shrinks). */
export function wantedContentHeight(
  ctx: CanvasRenderingContext2D | null,
  plan: ContentPlan,
  width: number,
): number {
  let hgt = 0;
  if (plan.images.length) hgt += plan.imageKind === 'input' ? 140 : 230;
  if (plan.textState) hgt += 6 * LINE_H + 2 * PAD;
  if (plan.text) {
    const lines = ctx ? measureTextLines(ctx, plan.text, width - 2 * PAD) : 3;
    hgt += Math.min(12, lines) * LINE_H + PAD + 4;
  }
  if (plan.chart) hgt += CHART_HEIGHT + 4;
  if (plan.sampleCaption) hgt += 3 * LINE_H;
  return hgt ? hgt + 8 : 0;
}

/** Draws the planned content into the box; returns clickable areas. */
export function drawContent(
  ctx: CanvasRenderingContext2D,
  live: LiveState,
  plan: ContentPlan,
  box: Rect,
): HitArea[] {
  const hits: HitArea[] = [];
  const [x0, , w] = box;
  let y = box[1] + 4;
  const bottom = box[1] + box[3];
  let fixed = 0;
  if (plan.textState) fixed += 6 * LINE_H + 2 * PAD + 4;
  if (plan.text) fixed += Math.min(12, measureTextLines(ctx, plan.text, w - 2 * PAD)) * LINE_H + PAD + 4;
  if (plan.chart) fixed += CHART_HEIGHT + 4;
  if (plan.sampleCaption) fixed += 3 * LINE_H;
  if (plan.chart) {
    drawChart(ctx, plan.chart, [x0 + 4, y, w - 8, CHART_HEIGHT]);
    hits.push({ rect: [x0 + 4, y, w - 8, CHART_HEIGHT], kind: 'chart' });
    live.drawn.chartPoints = plan.chart.points.length;
    y += CHART_HEIGHT + 4;
    fixed -= CHART_HEIGHT + 4;
  }
  if (plan.images.length) {
    const imgH = Math.max(0, bottom - y - fixed - 4);
    const rects = drawImages(ctx, plan.images, [x0 + 4, y, w - 8, imgH]);
    rects.forEach((r, i) => hits.push({ rect: r, kind: 'image', index: i }));
    if (rects.length) {
      if (plan.imageKind === 'preview') live.drawn.previewFrames = live.previewCount;
      if (plan.imageKind === 'output') live.drawn.outputImages = rects.length;
      if (plan.imageKind === 'sample') live.drawn.sampleImages = rects.length;
    }
    y += imgH + 4;
  }
  if (plan.sampleCaption) {
    drawOutputText(ctx, plan.sampleCaption, [x0 + 4, y, w - 8, 3 * LINE_H - 4]);
    live.drawn.sampleCaption = plan.sampleCaption;
    y += 3 * LINE_H;
  }
  if (plan.textState) {
    const hgt = 6 * LINE_H + 2 * PAD;
    live.drawn.textState = drawTextState(ctx, plan.textState, [x0 + 4, y, w - 8, hgt]);
    live.drawn.textStates++;
    hits.push({ rect: [x0 + 4, y, w - 8, hgt], kind: 'text' });
    y += hgt + 4;
  }
  if (plan.text) {
    const hgt = Math.max(LINE_H + PAD, bottom - y - 4);
    drawOutputText(ctx, plan.text, [x0 + 4, y, w - 8, hgt]);
    live.drawn.outputText = plan.text;
    hits.push({ rect: [x0 + 4, y, w - 8, hgt], kind: 'text' });
  }
  return hits;
}
