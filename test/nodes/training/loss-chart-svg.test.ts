import { lossChartSvg, smooth } from '../../../nodes/training/loss-chart-svg';
import type { StepMetrics } from '../../../nodes/training/session';

const rows: StepMetrics[] = Array.from({ length: 50 }, (_, i) => ({
  step: i + 1,
  loss: 4 / (i + 1) + 1,
  loss_img: 1 / (i + 1) + 0.5,
  loss_txt: 3 / (i + 1) + 0.5,
  lr: 1e-3,
  grad_norm: 1,
  samples_per_s: 20,
}));

describe('loss chart SVG', () => {
  test('exponential smoothing starts at the first value and follows the trend', () => {
    expect(smooth([2, 0, 0], 0.5)).toEqual([2, 1, 0.5]);
    expect(smooth([1, 2, 3], 0)).toEqual([1, 2, 3]);
  });

  test('draws the total, image and text curves with a legend and axes', () => {
    const svg = lossChartSvg(rows, { title: 'run <1>', smoothing: 0.9 });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<path /g)).toHaveLength(4); // raw total + three smoothed curves
    for (const label of ['total', 'image', 'text', 'optimizer step']) expect(svg).toContain(`>${label}<`);
    expect(svg).toContain('run &lt;1&gt;');
    // every coordinate is a finite number inside the canvas
    const coords = [...svg.matchAll(/[ML](-?[\d.]+),(-?[\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(coords.length).toBeGreaterThan(100);
    expect(coords.every(([x, y]) => x >= 0 && x <= 720 && y >= 0 && y <= 360)).toBe(true);
  });

  test('a run with text loss only draws what it has; an empty run is an error', () => {
    const textOnly = rows.map((r) => ({ ...r, loss_img: null }));
    expect(lossChartSvg(textOnly).match(/<path /g)).toHaveLength(3);
    expect(() => lossChartSvg([])).toThrow('no metrics');
  });
});
