/**
 * A training run's loss curves as a standalone SVG (for model cards and reports; the editor draws its
 * own live chart). Losses are smoothed with an exponential moving average, as a reader wants the trend
 * rather than the per-batch noise; the raw total is kept as a faint line behind.
 */
import type { StepMetrics } from './session';

export interface LossChartOptions {
  width?: number;
  height?: number;
  /** EMA weight of the past (0 = no smoothing). */
  smoothing?: number;
  title?: string;
}

const SERIES = [
  { key: 'loss', label: 'total', color: '#222222' },
  { key: 'loss_img', label: 'image', color: '#d9480f' },
  { key: 'loss_txt', label: 'text', color: '#1971c2' },
] as const;

export function smooth(values: number[], weight: number): number[] {
  const out: number[] = [];
  let s: number | null = null;
  for (const v of values) {
    s = s === null ? v : weight * s + (1 - weight) * v;
    out.push(s);
  }
  return out;
}

function niceTicks(lo: number, hi: number, n: number): number[] {
  const span = hi - lo || 1;
  const raw = span / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-12; t += step) ticks.push(Number(t.toPrecision(10)));
  return ticks;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function lossChartSvg(metrics: StepMetrics[], opts: LossChartOptions = {}): string {
  const W = opts.width ?? 720;
  const H = opts.height ?? 360;
  const weight = opts.smoothing ?? 0.98;
  const m = { left: 56, right: 16, top: opts.title ? 36 : 16, bottom: 40 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  if (!metrics.length) throw new Error('loss chart: the run has no metrics yet');
  const steps = metrics.map((r) => r.step);
  const x0 = Math.min(...steps);
  const x1 = Math.max(...steps, x0 + 1);
  const lines = SERIES.map((s) => {
    const pts = metrics.filter((r) => typeof r[s.key] === 'number' && Number.isFinite(r[s.key]));
    return {
      ...s,
      steps: pts.map((r) => r.step),
      values: smooth(
        pts.map((r) => r[s.key] as number),
        weight,
      ),
    };
  }).filter((l) => l.values.length);
  const raw = metrics.map((r) => r.loss).filter(Number.isFinite);
  // The axis follows the smoothed curves; early raw spikes would flatten everything else.
  const all = lines.flatMap((l) => l.values);
  const y0 = Math.min(0, ...all);
  const y1 = Math.max(...all) * 1.05 || 1;
  const sx = (s: number): number => m.left + ((s - x0) / (x1 - x0)) * pw;
  const sy = (v: number): number => m.top + ph - ((Math.min(v, y1) - y0) / (y1 - y0)) * ph;
  // At most ~2 points per horizontal pixel: a long run would otherwise make a file of hundreds of KB.
  const path = (xs: number[], ys: number[]): string => {
    const every = Math.max(1, Math.ceil(xs.length / (2 * pw)));
    const keep = xs.map((_, i) => i).filter((i) => i % every === 0 || i === xs.length - 1);
    return keep.map((i, k) => `${k ? 'L' : 'M'}${sx(xs[i]).toFixed(1)},${sy(ys[i]).toFixed(1)}`).join('');
  };
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
  ];
  if (opts.title) parts.push(`<text x="${m.left}" y="22" font-size="14">${esc(opts.title)}</text>`);
  for (const t of niceTicks(y0, y1, 5)) {
    parts.push(
      `<line x1="${m.left}" x2="${W - m.right}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" stroke="#e9ecef"/>`,
      `<text x="${m.left - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end" fill="#495057">${t}</text>`,
    );
  }
  for (const t of niceTicks(x0, x1, 6)) {
    parts.push(
      `<text x="${sx(t).toFixed(1)}" y="${H - m.bottom + 16}" text-anchor="middle" fill="#495057">${t}</text>`,
    );
  }
  parts.push(
    `<text x="${m.left + pw / 2}" y="${H - 6}" text-anchor="middle" fill="#495057">optimizer step</text>`,
    `<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${m.top + ph}" stroke="#adb5bd"/>`,
    `<line x1="${m.left}" x2="${W - m.right}" y1="${m.top + ph}" y2="${m.top + ph}" stroke="#adb5bd"/>`,
  );
  if (raw.length === metrics.length)
    parts.push(`<path d="${path(steps, raw)}" fill="none" stroke="#222222" stroke-opacity="0.12"/>`);
  lines.forEach((l, i) => {
    parts.push(`<path d="${path(l.steps, l.values)}" fill="none" stroke="${l.color}" stroke-width="1.6"/>`);
    const lx = W - m.right - 150 + i * 50;
    parts.push(
      `<line x1="${lx}" x2="${lx + 14}" y1="${m.top + 8}" y2="${m.top + 8}" stroke="${l.color}" stroke-width="2"/>`,
      `<text x="${lx + 18}" y="${m.top + 12}">${l.label}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
