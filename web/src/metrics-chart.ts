/**
 * The live training chart's model: series of image loss, text loss, total loss and learning rate
 * from `ddit.train_metrics` messages, with the scales to draw them. Pure; the canvas code only maps
 * points through `project`.
 */
import type { TrainMetrics } from './protocol';

export interface Series {
  key: 'loss' | 'loss_img' | 'loss_txt' | 'lr';
  label: string;
  color: string;
  /** lr is drawn on its own right-hand scale. */
  axis: 'loss' | 'lr';
}

export const SERIES: Series[] = [
  { key: 'loss', label: 'total', color: '#e8e8e8', axis: 'loss' },
  { key: 'loss_img', label: 'image', color: '#64b5f6', axis: 'loss' },
  { key: 'loss_txt', label: 'text', color: '#ffb74d', axis: 'loss' },
  { key: 'lr', label: 'lr', color: '#81c784', axis: 'lr' },
];

/** Keeps at most `max` points by merging neighbours (a long run stays cheap to draw). */
export class MetricsHistory {
  readonly points: TrainMetrics[] = [];
  constructor(readonly max = 2000) {}

  push(m: TrainMetrics): void {
    const last = this.points[this.points.length - 1];
    // A restarted run (step went back) starts a new chart.
    if (last && m.step < last.step) this.points.length = 0;
    this.points.push(m);
    if (this.points.length > this.max) {
      const kept: TrainMetrics[] = [];
      for (let i = 0; i < this.points.length; i += 2) kept.push(this.points[i]);
      this.points.splice(0, this.points.length, ...kept);
    }
  }

  get latest(): TrainMetrics | undefined {
    return this.points[this.points.length - 1];
  }

  /** Value ranges of the step axis and of both value axes (0 is always in the loss range). */
  bounds(): { step: [number, number]; loss: [number, number]; lr: [number, number] } {
    let s0 = Infinity;
    let s1 = -Infinity;
    let l1 = 0;
    let r0 = Infinity;
    let r1 = -Infinity;
    for (const p of this.points) {
      s0 = Math.min(s0, p.step);
      s1 = Math.max(s1, p.step);
      for (const k of ['loss', 'loss_img', 'loss_txt'] as const) {
        const v = p[k];
        if (typeof v === 'number' && Number.isFinite(v)) l1 = Math.max(l1, v);
      }
      if (typeof p.lr === 'number' && Number.isFinite(p.lr)) {
        r0 = Math.min(r0, p.lr);
        r1 = Math.max(r1, p.lr);
      }
    }
    if (!Number.isFinite(s0)) [s0, s1] = [0, 1];
    if (s1 === s0) s1 = s0 + 1;
    if (!Number.isFinite(r0)) [r0, r1] = [0, 1];
    if (r1 === r0) [r0, r1] = [0, r1 || 1];
    return { step: [s0, s1], loss: [0, l1 || 1], lr: [Math.min(0, r0), r1] };
  }
}

/** Maps a (step, value) pair into a w×h box, y growing downwards. */
export function project(
  step: number,
  value: number,
  stepRange: [number, number],
  valueRange: [number, number],
  w: number,
  h: number,
): [number, number] {
  const x = ((step - stepRange[0]) / (stepRange[1] - stepRange[0])) * w;
  const y = h - ((value - valueRange[0]) / (valueRange[1] - valueRange[0])) * h;
  return [x, y];
}

/** Short number for chart labels: 3 significant digits, exponent form for tiny learning rates. */
export function formatMetric(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  if (v !== 0 && Math.abs(v) < 1e-3) return v.toExponential(1);
  return Number(v.toPrecision(3)).toString();
}
