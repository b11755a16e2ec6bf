import { spawn, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ARITHMETIC, ROOT, delayPrompt, request, sleep, startTestServer } from './helpers';

/** `ddit serve` as a user runs it, in its own process, so the test can kill it like a crash would. */
function serveCli(dir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [
      path.join(ROOT, 'bin', 'ddit.js'),
      'serve',
      '--port',
      '0',
      '--data-dir',
      path.join(dir, 'data'),
      '--output-dir',
      path.join(dir, 'output'),
      '--input-dir',
      path.join(dir, 'input'),
      '--workflows-dir',
      path.join(dir, 'workflows'),
    ],
    { cwd: dir, env: { ...process.env, DDIT_BACKEND: 'cpu' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ddit serve did not start: ${out}`));
    }, 90_000);
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1] });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`ddit serve exited with ${code}: ${out}`)));
  });
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30000): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = await fn();
    if (v !== undefined) return v;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

let cli: ChildProcess | null = null;
afterEach(() => {
  // If the test failed half-way, do not leave the server (and its worker) running.
  if (cli && cli.exitCode === null && cli.signalCode === null) cli.kill('SIGKILL');
});

test('jobs and history survive a crash of the server: pending jobs resume, the running one is marked interrupted', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-restart-'));
  const first = await serveCli(dir);
  cli = first.child;
  let url = first.url;
  const done = (await request(url, 'POST', '/prompt', { prompt: ARITHMETIC })).body.prompt_id as string;
  // Includes the worker's start (process, node packs, tensor runtime): slow on a busy machine.
  await until(
    'the first job',
    async () => {
      const h = await request(url, 'GET', `/history/${done}`);
      return h.body[done] ? true : undefined;
    },
    90_000,
  );
  const running = (await request(url, 'POST', '/prompt', { prompt: delayPrompt(60000, 'long') })).body
    .prompt_id;
  const pendingA = (await request(url, 'POST', '/prompt', { prompt: delayPrompt(1, 'resumed-a') })).body
    .prompt_id;
  const pendingB = (await request(url, 'POST', '/prompt', { prompt: delayPrompt(1, 'resumed-b') })).body
    .prompt_id;
  const workerPid = await until('the long job to start', async () => {
    const stats = await request(url, 'GET', '/system_stats');
    const w = stats.body.workers[0];
    return w.job === running ? (w.pid as number) : undefined;
  });

  first.child.kill('SIGKILL');
  await new Promise((r) => first.child.once('exit', r));
  // The orphaned worker notices its parent is gone and exits by itself.
  await until('the orphaned worker to exit', async () => (alive(workerPid) ? undefined : true), 10000);

  const second = await startTestServer({ extraNodePacks: [] }, dir);
  try {
    url = second.url;
    expect(second.recovered).toEqual({ resumed: 2, interrupted: 1 });
    const before = await request(url, 'GET', `/history/${done}`);
    expect(before.body[done].outputs['6']).toEqual({ text: ['The answer is 42'] });
    const lost = (await request(url, 'GET', `/history/${running}`)).body[running];
    expect(lost.status.status_str).toBe('error');
    expect(lost.status.messages.map((m: [string]) => m[0])).toContain('execution_interrupted');
    expect((await request(url, 'GET', `/jobs/${running}`)).body).toMatchObject({
      state: 'interrupted',
      error_message: 'The server stopped while this job was running',
    });
    for (const [id, text] of [
      [pendingA, 'resumed-a'],
      [pendingB, 'resumed-b'],
    ]) {
      const entry = await until(`resumed job ${text}`, async () => {
        const h = await request(url, 'GET', `/history/${id}`);
        return h.body[id];
      });
      expect(entry.outputs['3']).toEqual({ text: [text] });
    }
  } finally {
    await second.close();
  }

  // A clean restart keeps everything as well.
  const third = await startTestServer({ extraNodePacks: [] }, dir);
  try {
    const all = (await request(third.url, 'GET', '/history')).body;
    expect(Object.keys(all)).toEqual([done, running, pendingA, pendingB]);
    expect(third.recovered).toEqual({ resumed: 0, interrupted: 0 });
  } finally {
    await third.close();
  }
}, 180_000);
