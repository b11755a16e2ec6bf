/**
 * The run's loss history on disk (metrics.jsonl beside the checkpoint), one JSON line per step, so a
 * curve survives restarts and can be plotted without the server. Steps after the checkpoint a run
 * resumes from were never committed; they are cut so the history follows the weights.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { StepMetrics } from './session';

export const METRICS_FILE = 'metrics.jsonl';

export function metricsFile(runDir: string): string {
  return path.join(runDir, METRICS_FILE);
}

export function appendMetrics(runDir: string, m: StepMetrics): void {
  fs.appendFileSync(metricsFile(runDir), JSON.stringify({ ...m, time: new Date().toISOString() }) + '\n');
}

export function readMetrics(runDir: string): StepMetrics[] {
  return readMetricsFile(metricsFile(runDir));
}

/** The steps of a metrics log at any path (e.g. a copy kept beside a model card); [] when it cannot be read. */
export function readMetricsFile(file: string): StepMetrics[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: StepMetrics[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as StepMetrics);
    } catch {
      // A line cut by a crash mid-write: the steps before it are still good.
    }
  }
  return out;
}

/** Keeps the lines up to `step` (the checkpoint being resumed); a fresh run (null) starts an empty file. */
export function truncateMetrics(runDir: string, step: number | null): void {
  const kept = step === null ? [] : readMetrics(runDir).filter((m) => m.step <= step);
  fs.mkdirSync(runDir, { recursive: true });
  fs.writeFileSync(metricsFile(runDir), kept.map((m) => JSON.stringify(m) + '\n').join(''));
}
