import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { appendMetrics } from '../../../nodes/training/metrics-log';

const CLI = path.resolve(__dirname, '../../../bin/ddit.js');

describe('ddit metrics', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-metrics-cli-'));
    for (let s = 1; s <= 20; s++) {
      appendMetrics(dir, {
        step: s,
        loss: 3 - s / 10,
        loss_img: 1,
        loss_txt: 2 - s / 10,
        lr: 1e-3,
        grad_norm: 0.5,
        samples_per_s: 30,
      });
    }
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('prints the step range and smoothed losses and writes the chart', () => {
    const svg = path.join(dir, 'loss.svg');
    const r = spawnSync('node', [CLI, 'metrics', dir, '--svg', svg, '--smoothing', '0'], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('steps: 1–20 (20 logged)');
    expect(r.stdout).toContain('total 1.0000, image 1.0000, text 0.0000');
    expect(fs.readFileSync(svg, 'utf8')).toContain('<svg');
  });

  test('reads a metrics log kept under another name (e.g. beside a model card)', () => {
    const copy = path.join(dir, 'model-metrics.jsonl');
    fs.copyFileSync(path.join(dir, 'metrics.jsonl'), copy);
    const r = spawnSync('node', [CLI, 'metrics', copy], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('steps: 1–20 (20 logged)');
  });

  test('a folder without metrics is a clear error', () => {
    const r = spawnSync('node', [CLI, 'metrics', os.tmpdir() + '/no-such-run'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('no metrics in');
  });
});
