import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  appendMetrics,
  metricsFile,
  readMetrics,
  truncateMetrics,
} from '../../../nodes/training/metrics-log';
import type { StepMetrics } from '../../../nodes/training/session';

const at = (step: number): StepMetrics => ({
  step,
  loss: 1 / step,
  loss_img: 0.5 / step,
  loss_txt: 0.5 / step,
  lr: 1e-3,
  grad_norm: 1,
  samples_per_s: 10,
});

describe('metrics.jsonl', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-metrics-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a resumed run drops the steps after its checkpoint, so the history follows the weights', () => {
    truncateMetrics(dir, null);
    for (let s = 1; s <= 5; s++) appendMetrics(dir, at(s));
    truncateMetrics(dir, 3);
    appendMetrics(dir, at(4));
    expect(readMetrics(dir).map((m) => m.step)).toEqual([1, 2, 3, 4]);
    expect(readMetrics(dir)[1].loss).toBeCloseTo(0.5);
  });

  test('a fresh run starts an empty history; a line cut by a crash is skipped', () => {
    appendMetrics(dir, at(1));
    fs.appendFileSync(metricsFile(dir), '{"step": 2, "lo');
    expect(readMetrics(dir).map((m) => m.step)).toEqual([1]);
    truncateMetrics(dir, null);
    expect(readMetrics(dir)).toEqual([]);
  });
});
