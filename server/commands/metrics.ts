import * as fs from 'fs';
import type { Command } from 'commander';
import { lossChartSvg, smooth } from '../../nodes/training/loss-chart-svg';
import { metricsFile, readMetricsFile } from '../../nodes/training/metrics-log';

interface MetricsFlags {
  svg?: string;
  smoothing: string;
  title?: string;
}

function fmt(v: number | null | undefined): string {
  return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(4) : '—';
}

export function register(program: Command): void {
  program
    .command('metrics')
    .description("summarise a training run's metrics.jsonl, and draw its loss curves as SVG")
    .argument('<run>', 'run folder (e.g. output/training/ddit-shapes) or its metrics.jsonl')
    .option('--svg <file>', 'write the loss chart here')
    .option('--smoothing <w>', 'EMA weight of the past for the curves and the summary', '0.98')
    .option('--title <text>', 'chart title')
    .action((run: string, flags: MetricsFlags) => {
      const file = run.endsWith('.jsonl') ? run : metricsFile(run);
      const rows = readMetricsFile(file);
      if (!rows.length) {
        console.error(`ddit metrics: no metrics in ${file} (has the run taken a step?)`);
        process.exit(1);
      }
      const w = Number(flags.smoothing);
      if (!(w >= 0 && w < 1)) {
        console.error(`ddit metrics: --smoothing must be in [0, 1), got ${flags.smoothing}`);
        process.exit(1);
      }
      const last = rows[rows.length - 1];
      const series = (k: 'loss' | 'loss_img' | 'loss_txt'): number | null => {
        const v = rows.map((r) => r[k]).filter((x): x is number => typeof x === 'number');
        return v.length ? smooth(v, w)[v.length - 1] : null;
      };
      const times = rows.map((r) => Date.parse(String((r as { time?: string }).time ?? '')));
      const span = Number.isFinite(times[0]) ? (times[times.length - 1] - times[0]) / 1000 : NaN;
      console.log(`run: ${run}`);
      console.log(`steps: ${rows[0].step}–${last.step} (${rows.length} logged)`);
      if (Number.isFinite(span)) {
        console.log(`wall time over the log: ${(span / 3600).toFixed(2)} h (resumes included)`);
      }
      console.log(
        `smoothed loss at the end: total ${fmt(series('loss'))}, image ${fmt(series('loss_img'))}, text ${fmt(series('loss_txt'))}`,
      );
      console.log(
        `last step: lr ${last.lr.toExponential(2)}, grad norm ${fmt(last.grad_norm)}, ${fmt(last.samples_per_s)} samples/s`,
      );
      if (flags.svg) {
        fs.writeFileSync(flags.svg, lossChartSvg(rows, { smoothing: w, title: flags.title }));
        console.log(`chart: ${flags.svg}`);
      }
      process.exit(0);
    });
}
