import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { PNG } from 'pngjs';
import {
  ARITHMETIC,
  ROOT,
  type Loose,
  WsClient,
  delayPrompt,
  request,
  startTestServer,
  type TestServer,
} from './helpers';

/**
 * The server end to end: a real server on a free port, a real worker process, real HTTP and WebSocket
 * clients. Jobs use core nodes and the test pack (a step-preview image node, a misbehaving node).
 */
describe('execution server', () => {
  let server: TestServer;
  let url: string;

  beforeAll(async () => {
    server = await startTestServer();
    url = server.url;
  });
  afterAll(async () => {
    await server?.close();
  });

  test('a client written from ComfyUI’s docs: queue with client_id, wait for executing null, read history', async () => {
    const clientId = 'docs-client';
    const ws = new WsClient(url, clientId);
    await ws.opened;
    const first = await ws.waitFor((m) => m.kind === 'json' && m.type === 'status', 'status');
    expect(first.kind === 'json' && first.data.sid).toBe(clientId);

    const res = await fetch(`${url}/prompt`, {
      method: 'POST',
      // Python's urllib sends no JSON content type; the server must still read the body.
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: JSON.stringify({ prompt: ARITHMETIC, client_id: clientId }),
    });
    expect(res.status).toBe(200);
    const { prompt_id, number, node_errors } = (await res.json()) as {
      prompt_id: string;
      number: number;
      node_errors: object;
    };
    expect(typeof number).toBe('number');
    expect(node_errors).toEqual({});
    await ws.waitDone(prompt_id);

    const history = (await (await fetch(`${url}/history/${prompt_id}`)).json()) as Record<string, Loose>;
    const entry = history[prompt_id];
    expect(entry.status).toMatchObject({ status_str: 'success', completed: true });
    expect(entry.outputs['6']).toEqual({ text: ['The answer is 42'] });
    expect(entry.prompt[1]).toBe(prompt_id);
    expect(entry.status.messages.map((m: [string]) => m[0])).toEqual([
      'execution_start',
      'execution_cached',
      'execution_success',
    ]);
    // The same under /api, as ComfyUI's frontend calls it.
    const viaApi = await request(url, 'GET', `/api/history/${prompt_id}`);
    expect(viaApi.body[prompt_id].outputs).toEqual(entry.outputs);

    // The worker keeps its engine between jobs: the same graph again is served from its cache.
    const again = await request(url, 'POST', '/prompt', { prompt: ARITHMETIC, client_id: clientId });
    await ws.waitDone(again.body.prompt_id);
    const cached = ws.about(again.body.prompt_id).find(([t]) => t === 'execution_cached')![1];
    expect(cached.nodes.sort()).toEqual(['1', '2', '3', '4', '5', '6']);
    expect(ws.about(again.body.prompt_id).find(([t]) => t === 'executed')![1].output).toEqual({
      text: ['The answer is 42'],
    });
    ws.close();
  });

  test('the README’s API client (docs/examples/api-client.mjs) runs unchanged and saves the image', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-client-'));
    const workflow = path.join(dir, 'image.json');
    fs.writeFileSync(
      workflow,
      JSON.stringify({
        ...ARITHMETIC,
        '7': { class_type: 'test.StepImage', inputs: { steps: 2, size: 12, prefix: 'client' } },
      }),
    );
    const script = path.join(ROOT, 'docs', 'examples', 'api-client.mjs');
    const { stdout } = await promisify(execFile)(process.execPath, [script, url, workflow], { cwd: dir });
    expect(stdout).toContain('step 2/2');
    expect(stdout).toContain('status: success');
    expect(stdout).toContain('node 6: The answer is 42');
    const saved = /node 7: saved (\S+) \((\d+) bytes\)/.exec(stdout)!;
    expect(PNG.sync.read(fs.readFileSync(path.join(dir, saved[1]))).width).toBe(12);
  });

  test('an image job streams executing, progress, binary previews, executed and success in order; /view serves the image', async () => {
    const legacy = new WsClient(url, 'legacy-client');
    const modern = new WsClient(url, 'modern-client', { featureFlags: { supports_preview_metadata: true } });
    await Promise.all([legacy.opened, modern.opened]);
    await modern.waitFor((m) => m.kind === 'json' && m.type === 'feature_flags', 'feature_flags reply');

    const image = (tag: string) => ({
      '1': { class_type: 'test.StepImage', inputs: { steps: 4, size: 8, step_ms: 1, prefix: tag } },
    });
    const a = await request(url, 'POST', '/prompt', { prompt: image('legacy'), client_id: 'legacy-client' });
    const b = await request(url, 'POST', '/api/prompt', {
      prompt: image('modern'),
      client_id: 'modern-client',
    });
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    const idA = a.body.prompt_id as string;
    const idB = b.body.prompt_id as string;
    await legacy.waitDone(idA);
    await modern.waitDone(idB);

    // The sequence a ComfyUI client expects, with the previews between the progress messages.
    const seq = legacy.messages
      .filter((m) => m.kind === 'binary' || m.data?.prompt_id === idA)
      .map((m) => (m.kind === 'binary' ? `binary${m.frame.type}` : m.type));
    const compact = seq.filter((t, i) => t !== seq[i - 1]);
    expect(compact).toEqual([
      'execution_start',
      'execution_cached',
      'executing',
      'progress_state',
      ...Array(4).fill(['ddit.text_state', 'progress_state', 'progress', 'binary1']).flat(),
      'executed',
      'progress_state',
      'execution_success',
      'executing',
    ]);
    const frames = legacy.messages.filter((m) => m.kind === 'binary');
    expect(frames).toHaveLength(4);
    for (const f of frames) {
      if (f.kind !== 'binary') continue;
      expect(f.frame.format).toBe('png');
      expect(PNG.sync.read(f.frame.image!).width).toBe(8);
    }
    const progress = legacy.about(idA).filter(([t]) => t === 'progress');
    expect(progress.map(([, d]) => d.value)).toEqual([1, 2, 3, 4]);
    expect(progress[0][1]).toMatchObject({ max: 4, node: '1' });
    const states = legacy.about(idA).filter(([t]) => t === 'progress_state');
    expect(states[states.length - 1][1].nodes['1']).toMatchObject({ state: 'finished', value: 4, max: 4 });

    // The client that announced supports_preview_metadata gets type-4 frames naming node and prompt.
    const meta = modern.messages.filter((m) => m.kind === 'binary');
    expect(meta).toHaveLength(4);
    for (const f of meta) {
      if (f.kind !== 'binary') continue;
      expect(f.frame.type).toBe(4);
      expect(f.frame.meta).toMatchObject({ node_id: '1', prompt_id: idB, image_type: 'image/png' });
      expect(PNG.sync.read(f.frame.image!).height).toBe(8);
    }
    // Each client only hears about its own prompt.
    expect(legacy.about(idB)).toEqual([]);
    expect(modern.about(idA)).toEqual([]);

    const executed = legacy.about(idA).find(([t]) => t === 'executed')![1];
    const img = executed.output.images[0];
    const view = await fetch(`${url}/view?filename=${img.filename}&type=output&subfolder=`);
    expect(view.status).toBe(200);
    expect(view.headers.get('content-type')).toBe('image/png');
    expect(PNG.sync.read(Buffer.from(await view.arrayBuffer())).width).toBe(8);
    legacy.close();
    modern.close();
  });

  test('invalid prompts get 400 with ComfyUI-shaped node_errors', async () => {
    const bad = await request(url, 'POST', '/prompt', {
      prompt: {
        '1': { class_type: 'Int', inputs: { value: 'nine' } },
        '2': { class_type: 'ToString', inputs: { value: ['1', 0] } },
        '3': { class_type: 'ShowText', inputs: { text: ['2', 0] } },
      },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.type).toBe('prompt_outputs_failed_validation');
    expect(bad.body.node_errors['1']).toMatchObject({
      class_type: 'Int',
      dependent_outputs: ['3'],
      errors: [{ type: 'invalid_input_type', details: 'value', extra_info: { input_name: 'value' } }],
    });
    expect(bad.body.node_errors['1'].errors[0].message).toContain("Node 1 (Int), input 'value'");

    const unknown = await request(url, 'POST', '/prompt', {
      prompt: { '1': { class_type: 'Nope', inputs: {} } },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body).toMatchObject({ error: { type: 'invalid_prompt' }, node_errors: {} });

    const none = await request(url, 'POST', '/prompt', { client_id: 'x' });
    expect(none.status).toBe(400);
    expect(none.body.error.type).toBe('no_prompt');

    const notJson = await request(url, 'POST', '/prompt', '{"prompt": ');
    expect(notJson.status).toBe(400);
    expect(notJson.body.error.type).toBe('invalid_json');

    const badField = await request(url, 'POST', '/prompt', { prompt: ARITHMETIC, number: 'first' });
    expect(badField.status).toBe(400);
    expect(badField.body.error.message).toContain('body.number');

    const dupId = await request(url, 'POST', '/prompt', { prompt: ARITHMETIC, prompt_id: 'fixed-id-1' });
    expect(dupId.status).toBe(200);
    const again = await request(url, 'POST', '/prompt', { prompt: ARITHMETIC, prompt_id: 'fixed-id-1' });
    expect(again.status).toBe(400);
    expect(again.body.error.type).toBe('invalid_prompt_id');
  });

  test('interrupt stops the running job cooperatively; the worker survives', async () => {
    const ws = new WsClient(url, 'interrupter');
    await ws.opened;
    const pidBefore = (await request(url, 'GET', '/system_stats')).body.workers[0].pid;
    const q = await request(url, 'POST', '/prompt', {
      prompt: delayPrompt(30000, 'coop'),
      client_id: 'interrupter',
    });
    const id = q.body.prompt_id as string;
    await ws.waitFor(
      (m) => m.kind === 'json' && m.type === 'progress' && m.data.prompt_id === id,
      'progress',
    );
    const t0 = Date.now();
    const r = await request(url, 'POST', '/interrupt', { prompt_id: id });
    expect(r.body.interrupted).toEqual([id]);
    const ev = await ws.waitFor(
      (m) => m.kind === 'json' && m.type === 'execution_interrupted' && m.data.prompt_id === id,
      'execution_interrupted',
    );
    expect(ev.kind === 'json' && ev.data).toMatchObject({ node_id: '2', node_type: 'Delay' });
    await ws.waitDone(id);
    expect(Date.now() - t0).toBeLessThan(3000);
    const h = await request(url, 'GET', `/history/${id}`);
    expect(h.body[id].status.status_str).toBe('error');
    const job = await request(url, 'GET', `/jobs/${id}`);
    expect(job.body).toMatchObject({ status: 'failed', state: 'interrupted' });
    expect((await request(url, 'GET', '/system_stats')).body.workers[0].pid).toBe(pidBefore);
    ws.close();
  });

  test('a node that ignores the interrupt gets its worker killed after the grace period; the next job runs', async () => {
    const ws = new WsClient(url, 'hard');
    await ws.opened;
    const stuck = await request(url, 'POST', '/prompt', {
      prompt: { '1': { class_type: 'test.Misbehave', inputs: { mode: 'hang', milliseconds: 60000 } } },
      client_id: 'hard',
    });
    const next = await request(url, 'POST', '/prompt', {
      prompt: delayPrompt(10, 'after-hang'),
      client_id: 'hard',
    });
    const id = stuck.body.prompt_id as string;
    await ws.waitFor(
      (m) => m.kind === 'json' && m.type === 'executing' && m.data.node === '1',
      'executing 1',
    );
    const t0 = Date.now();
    await request(url, 'POST', '/interrupt', {});
    await ws.waitDone(id);
    const waited = Date.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(2900);
    expect(waited).toBeLessThan(15000);
    expect(ws.about(id).map(([t]) => t)).toContain('execution_interrupted');
    await ws.waitDone(next.body.prompt_id, 30000);
    const h = await request(url, 'GET', `/history/${next.body.prompt_id}`);
    expect(h.body[next.body.prompt_id].outputs['3']).toEqual({ text: ['after-hang'] });
    const stats = await request(url, 'GET', '/system_stats');
    expect(stats.body.workers[0].restarts).toBeGreaterThanOrEqual(1);
    ws.close();
  });

  test('killing the worker mid-job fails that job only; a native abort too; the next job succeeds', async () => {
    const ws = new WsClient(url, 'crash');
    await ws.opened;
    const victim = await request(url, 'POST', '/prompt', {
      prompt: delayPrompt(30000, 'victim'),
      client_id: 'crash',
    });
    const id = victim.body.prompt_id as string;
    await ws.waitFor(
      (m) => m.kind === 'json' && m.type === 'progress' && m.data.prompt_id === id,
      'progress',
    );
    const stats = await request(url, 'GET', '/system_stats');
    const worker = stats.body.workers[0];
    expect(worker.job).toBe(id);
    process.kill(worker.pid, 'SIGKILL');
    await ws.waitDone(id);
    const err = ws.about(id).find(([t]) => t === 'execution_error')![1];
    expect(err).toMatchObject({ node_id: '2', node_type: 'Delay', exception_type: 'WorkerCrashed' });
    expect(err.exception_message).toContain('SIGKILL');

    const aborted = await request(url, 'POST', '/prompt', {
      prompt: { '1': { class_type: 'test.Misbehave', inputs: { mode: 'abort', milliseconds: 10 } } },
      client_id: 'crash',
    });
    const ok = await request(url, 'POST', '/prompt', {
      prompt: delayPrompt(10, 'survivor'),
      client_id: 'crash',
    });
    await ws.waitDone(aborted.body.prompt_id, 30000);
    const abortErr = ws.about(aborted.body.prompt_id).find(([t]) => t === 'execution_error')![1];
    expect(abortErr.exception_message).toMatch(/SIGABRT|signal/);
    await ws.waitDone(ok.body.prompt_id, 30000);
    const h = await request(url, 'GET', `/history/${ok.body.prompt_id}`);
    expect(h.body[ok.body.prompt_id].status.status_str).toBe('success');
    const failed = await request(url, 'GET', `/history/${id}`);
    expect(failed.body[id].status.status_str).toBe('error');
    ws.close();
  });
});
