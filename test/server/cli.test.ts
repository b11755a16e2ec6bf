import { spawnSync, type SpawnSyncReturns } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.resolve(__dirname, '..', '..');
const ddit = (...args: string[]): SpawnSyncReturns<string> =>
  spawnSync(process.execPath, [path.join(root, 'bin', 'ddit.js'), ...args], { cwd: root, encoding: 'utf8' });

describe('ddit CLI', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-cli-'));

  test('run prints the result of a shipped workflow', () => {
    const r = ddit('run', 'workflows/examples/arithmetic.json', '--out', out);
    expect(r.stderr).toContain('▶ #3 IntMath');
    expect(r.stdout).toContain('#6 text: The answer is 42');
    expect(r.status).toBe(0);
  });

  test('--set overrides by node title or id', () => {
    const r = ddit(
      'run',
      'workflows/examples/arithmetic.json',
      '--set',
      'a.value=10',
      '--set',
      '3.op=add',
      '-q',
      '--out',
      out,
    );
    expect(r.stdout.trim()).toBe('#6 text: The answer is 17');
  });

  test('a broken workflow prints the node and input and exits non-zero', () => {
    const r = ddit('run', 'workflows/examples/arithmetic.json', '--set', 'b.value=nine', '--out', out);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("Node 2 (Int), input 'value'");
    const failing = ddit(
      'run',
      'workflows/examples/arithmetic.json',
      '--set',
      '3.op=divide',
      '--set',
      'b.value=0',
      '--out',
      out,
    );
    expect(failing.status).toBe(1);
    expect(failing.stderr).toContain("Node 3 (IntMath): input 'b': division by zero");
  });

  test('a saved {prompt, extra_data} workflow brings its own loop (training workflows)', () => {
    const prompt = JSON.parse(fs.readFileSync(path.join(root, 'workflows/examples/arithmetic.json'), 'utf8'));
    const file = path.join(out, 'looped.json');
    fs.writeFileSync(file, JSON.stringify({ prompt, extra_data: { loop: { iterations: 3 } } }));
    const r = ddit('run', file, '--json', '--out', out);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).iterations).toBe(3);
    const overridden = ddit('run', file, '--json', '--loop', '2', '--out', out);
    expect(JSON.parse(overridden.stdout).iterations).toBe(2);
  });

  test('nodes --json prints object_info; convert prints the API graph', () => {
    const info = JSON.parse(ddit('nodes', '--json').stdout);
    expect(info.ShowText.output_node).toBe(true);
    const api = JSON.parse(ddit('convert', 'test/fixtures/editor-workflow.json').stdout);
    expect(api['3']).toEqual({ class_type: 'IntMath', inputs: { a: ['1', 0], b: ['2', 0], op: 'multiply' } });
  });
});
