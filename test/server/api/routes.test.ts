import { createHmac } from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import { PNG } from 'pngjs';
import WebSocket from 'ws';
import {
  ARITHMETIC,
  ROOT,
  WsClient,
  delayPrompt,
  request,
  startTestServer,
  type Loose,
  type TestServer,
} from './helpers';

function png(size: number, shade = 0): Buffer {
  const p = new PNG({ width: size, height: size });
  p.data.fill(shade);
  return PNG.sync.write(p);
}

async function upload(
  url: string,
  name: string,
  content: Buffer,
  fields: Record<string, string> = {},
  mime = 'image/png',
): Promise<{ status: number; body: Loose }> {
  const form = new FormData();
  form.append('image', new Blob([new Uint8Array(content)], { type: mime }), name);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  const res = await fetch(`${url}/upload/image`, { method: 'POST', body: form });
  return { status: res.status, body: await res.json() };
}

describe('server routes', () => {
  let server: TestServer;
  let url: string;
  const hooks: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  let receiver: http.Server;
  let hookUrl: string;

  beforeAll(async () => {
    receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        hooks.push({ headers: req.headers, body });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/done`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-routes-'));
    fs.mkdirSync(path.join(dir, 'workflows', 'examples'), { recursive: true });
    fs.copyFileSync(
      path.join(ROOT, 'workflows', 'examples', 'arithmetic.json'),
      path.join(dir, 'workflows', 'examples', 'arithmetic.json'),
    );
    fs.mkdirSync(path.join(dir, 'models', 'ddit', 'tiny'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'models', 'ddit', 'tiny', 'model.safetensors'), 'x');
    fs.writeFileSync(path.join(dir, 'models', 'ddit', 'config.json'), '{}');
    server = await startTestServer(
      {
        maxUploadBytes: 64 * 1024,
        webhookHosts: ['127.0.0.1'],
        webhookSecret: 'hook-secret',
        startRuntime: true,
        workerEnv: { DDIT_BACKEND: 'cpu' },
      },
      dir,
    );
    url = server.url;
  });
  afterAll(async () => {
    await server?.close();
    await new Promise((r) => receiver?.close(r));
  });

  test('queue control: priority, reorder, delete, cancel, and the job listing', async () => {
    const ws = new WsClient(url, 'queue-client');
    await ws.opened;
    const blocker = await request(url, 'POST', '/prompt', {
      prompt: delayPrompt(30000, 'blocker'),
      client_id: 'queue-client',
    });
    await ws.waitFor(
      (m) => m.kind === 'json' && m.type === 'executing' && m.data.node === '2',
      'blocker runs',
    );
    const ids: Record<string, string> = {};
    for (const tag of ['A', 'B', 'C', 'D']) {
      const r = await request(url, 'POST', '/prompt', {
        prompt: delayPrompt(1, tag),
        client_id: 'queue-client',
      });
      ids[tag] = r.body.prompt_id;
    }
    const order = async (): Promise<string> => {
      const q = await request(url, 'GET', '/queue');
      const byId = Object.fromEntries(Object.entries(ids).map(([k, v]) => [v, k]));
      return q.body.queue_pending.map((item: Loose[]) => byId[item[1] as string]).join('');
    };
    const q = await request(url, 'GET', '/queue');
    expect(q.body.queue_running.map((i: Loose[]) => i[1])).toEqual([blocker.body.prompt_id]);
    expect(q.body.queue_pending[0]).toHaveLength(5);
    expect(await order()).toBe('ABCD');

    const front = await request(url, 'POST', `/jobs/${ids.D}/priority`, { front: true });
    expect(front.body).toMatchObject({ id: ids.D, status: 'pending', queue_position: 0 });
    expect(await order()).toBe('DABC');
    await request(url, 'POST', '/queue/reorder', { prompt_ids: [ids.C, ids.B] });
    expect(await order()).toBe('CBDA');
    await request(url, 'POST', `/jobs/${ids.C}/priority`, { back: true });
    expect(await order()).toBe('BDAC');
    await request(url, 'POST', '/queue', { delete: [ids.B] });
    expect(await order()).toBe('DAC');
    expect((await request(url, 'POST', `/jobs/${ids.A}/cancel`)).body).toEqual({ cancelled: true });
    expect((await request(url, 'POST', `/jobs/${ids.A}/cancel`)).body).toEqual({ cancelled: false });
    expect(await order()).toBe('DC');
    expect((await request(url, 'GET', `/jobs/${ids.B}`)).body.status).toBe('cancelled');
    const pending = await request(url, 'GET', '/jobs?status=pending&sort_order=asc');
    expect(pending.body.jobs.map((j: Loose) => j.id)).toEqual([ids.C, ids.D]);
    expect(pending.body.pagination).toMatchObject({ total: 2, has_more: false });

    // Bad requests are clear 4xx answers.
    expect((await request(url, 'POST', `/jobs/${ids.D}/priority`, { front: true, back: true })).status).toBe(
      400,
    );
    expect((await request(url, 'POST', '/jobs/nope/priority', { front: true })).status).toBe(404);
    const running = await request(url, 'POST', `/jobs/${blocker.body.prompt_id}/priority`, { front: true });
    expect(running.status).toBe(409);
    expect((await request(url, 'POST', '/queue/reorder', { prompt_ids: ['nope'] })).status).toBe(404);
    expect((await request(url, 'GET', '/jobs?status=weird')).status).toBe(400);
    expect((await request(url, 'POST', '/queue', { clear: 'yes' })).status).toBe(400);

    await request(url, 'POST', '/interrupt', {});
    await ws.waitDone(ids.C);
    const started = ws.messages
      .filter((m) => m.kind === 'json' && m.type === 'execution_start')
      .map((m) => (m.kind === 'json' ? m.data.prompt_id : ''));
    expect(started.slice(-2)).toEqual([ids.D, ids.C]);
    const done = await request(url, 'GET', '/jobs?status=completed,failed&limit=1');
    expect(done.body.jobs).toHaveLength(1);
    expect(done.body.pagination.has_more).toBe(true);
    const detail = await request(url, 'GET', `/jobs/${ids.D}`);
    expect(detail.body).toMatchObject({
      status: 'completed',
      outputs_count: 1,
      outputs: { '3': { text: ['D'] } },
    });
    expect(detail.body.execution_duration).toBeGreaterThanOrEqual(0);
    // front: true in POST /prompt jumps ahead (negative number, as ComfyUI).
    const jump = await request(url, 'POST', '/prompt', { prompt: delayPrompt(1, 'front'), front: true });
    expect(jump.body.number).toBeLessThan(0);
    ws.close();
  });

  test('the workflow library: list, read, save, run with overrides, delete; names stay inside workflows/', async () => {
    const list = await request(url, 'GET', '/workflows');
    expect(list.body.map((w: Loose) => w.name)).toEqual(['examples/arithmetic']);
    const read = await request(url, 'GET', '/workflows/examples/arithmetic');
    expect(read.body['3'].class_type).toBe('IntMath');
    expect((await request(url, 'GET', '/api/workflows/examples/arithmetic.json')).status).toBe(200);

    expect((await request(url, 'PUT', '/workflows/mine/sum', ARITHMETIC)).status).toBe(201);
    expect((await request(url, 'PUT', '/workflows/mine/sum', ARITHMETIC)).status).toBe(200);
    expect(fs.existsSync(path.join(server.config.workflowsDir, 'mine', 'sum.json'))).toBe(true);
    const notWorkflow = await request(url, 'PUT', '/workflows/mine/bad', { hello: 'world' });
    expect(notWorkflow.status).toBe(400);
    expect(notWorkflow.body.error.type).toBe('invalid_workflow');
    for (const bad of ['..%2F..%2Fescape', '.hidden', 'a/../../b', 'a%5Cb', 'a//b']) {
      const r = await request(url, 'PUT', `/workflows/${bad}`, ARITHMETIC);
      expect([400, 404]).toContain(r.status);
    }
    expect(fs.readdirSync(path.dirname(server.config.workflowsDir)).sort()).not.toContain('escape.json');

    const ws = new WsClient(url, 'wf-client');
    await ws.opened;
    const run = await request(url, 'POST', '/workflows/mine/sum/run', {
      overrides: { 'a.value': 10, '3.op': 'add' },
      client_id: 'wf-client',
    });
    expect(run.status).toBe(200);
    await ws.waitDone(run.body.prompt_id);
    const h = await request(url, 'GET', `/history/${run.body.prompt_id}`);
    expect(h.body[run.body.prompt_id].outputs['6']).toEqual({ text: ['The answer is 17'] });
    expect((await request(url, 'GET', `/jobs/${run.body.prompt_id}`)).body.workflow_name).toBe('mine/sum');
    const badOverride = await request(url, 'POST', '/workflows/mine/sum/run', {
      overrides: { 'nobody.value': 1 },
    });
    expect(badOverride.status).toBe(400);
    expect(badOverride.body.error.type).toBe('invalid_overrides');
    const invalidValue = await request(url, 'POST', '/workflows/mine/sum/run', {
      overrides: { 'a.value': 'x' },
    });
    expect(invalidValue.status).toBe(400);
    expect(invalidValue.body.node_errors['1'].errors[0].type).toBe('invalid_input_type');
    expect((await request(url, 'POST', '/workflows/mine/missing/run', {})).status).toBe(404);

    expect((await request(url, 'DELETE', '/workflows/mine/sum')).status).toBe(200);
    expect((await request(url, 'GET', '/workflows/mine/sum')).status).toBe(404);
    ws.close();
  });

  test('/view serves only files inside its folders', async () => {
    const out = server.config.outputDir;
    fs.writeFileSync(path.join(out, 'ok.png'), png(2));
    fs.mkdirSync(path.join(out, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(out, 'sub', 'deep.txt'), 'deep');
    fs.writeFileSync(path.join(out, 'page.html'), '<script>alert(1)</script>');
    const secret = path.join(server.dir, 'secret.txt');
    fs.writeFileSync(secret, 'secret');
    fs.symlinkSync(secret, path.join(out, 'link.txt'));
    fs.symlinkSync(server.dir, path.join(out, 'linkdir'));

    expect((await request(url, 'GET', '/view?filename=ok.png')).status).toBe(200);
    const deep = await fetch(`${url}/view?filename=deep.txt&subfolder=sub&type=output`);
    expect(await deep.text()).toBe('deep');
    const cases: [string, number][] = [
      ['filename=../secret.txt', 400],
      ['filename=..%2Fsecret.txt', 400],
      ['filename=%2Fetc%2Fpasswd', 400],
      ['filename=secret.txt&subfolder=..', 400],
      ['filename=secret.txt&subfolder=sub%2F..%2F..', 400],
      ['filename=passwd&subfolder=%2Fetc', 400],
      ['filename=x.png&subfolder=..%5C..', 400],
      ['filename=link.txt', 403],
      ['filename=secret.txt&subfolder=linkdir', 403],
      ['filename=missing.png', 404],
      ['filename=ok.png&type=system', 400],
      ['', 400],
    ];
    for (const [q, status] of cases) {
      const r = await request(url, 'GET', `/view?${q}`);
      expect([q, r.status]).toEqual([q, status]);
      expect(String(r.body)).not.toContain('secret');
    }
    const html = await fetch(`${url}/view?filename=page.html`);
    expect(html.headers.get('content-type')).toBe('application/octet-stream');
    expect(html.headers.get('content-disposition')).toMatch(/^attachment/);
  });

  test('uploads: checked image type, size limit, de-duplicated names, confined folders', async () => {
    const first = await upload(url, 'pic.png', png(4, 10));
    expect(first).toEqual({ status: 200, body: { name: 'pic.png', subfolder: '', type: 'input' } });
    expect(fs.readFileSync(path.join(server.config.inputDir, 'pic.png'))).toEqual(png(4, 10));
    expect((await upload(url, 'pic.png', png(4, 10))).body.name).toBe('pic.png');
    expect((await upload(url, 'pic.png', png(4, 20))).body.name).toBe('pic (1).png');
    expect((await upload(url, 'pic.png', png(4, 30), { overwrite: 'true' })).body.name).toBe('pic.png');
    const sub = await upload(url, 'in-sub.png', png(2), { subfolder: 'masks', type: 'temp' });
    expect(sub.body).toEqual({ name: 'in-sub.png', subfolder: 'masks', type: 'temp' });

    const fake = await upload(url, 'fake.png', Buffer.from('GIF89a not really a png at all'));
    expect(fake.status).toBe(415);
    expect(fake.body.error.message).toContain('not a PNG image');
    expect((await upload(url, 'wrong.jpg', png(2), {}, 'image/jpeg')).status).toBe(415);
    expect((await upload(url, 'mislabelled.png', png(2), {}, 'image/jpeg')).status).toBe(415);
    expect((await upload(url, 'notes.txt', Buffer.from('hello'), {}, 'text/plain')).status).toBe(415);
    const big = Buffer.concat([png(2), Buffer.alloc(70 * 1024)]);
    const tooBig = await upload(url, 'big.png', big);
    expect(tooBig.status).toBe(413);
    expect(tooBig.body.error.type).toBe('upload_too_large');
    expect((await upload(url, 'x.png', png(2), { subfolder: '../..' })).status).toBe(400);
    expect((await upload(url, 'x.png', png(2), { subfolder: '/tmp' })).status).toBe(400);
    expect((await upload(url, 'x.png', png(2), { type: 'models' })).status).toBe(400);
    expect(fs.existsSync(path.join(server.dir, 'x.png'))).toBe(false);
    const noFile = await fetch(`${url}/upload/image`, { method: 'POST', body: new FormData() });
    expect(noFile.status).toBe(400);
  });

  test('node, system, model, plugin and documentation routes', async () => {
    const info = await request(url, 'GET', '/object_info');
    expect(info.body.ShowText.output_node).toBe(true);
    expect(info.body['test.StepImage'].category).toBe('test');
    expect(info.body['imagefx.Sharpen']).toBeDefined();
    expect(Object.keys((await request(url, 'GET', '/object_info/IntMath')).body)).toEqual(['IntMath']);
    expect((await request(url, 'GET', '/object_info/Nope')).body).toEqual({});
    // File choices come from this server's folders (--models-dir, --input-dir), not the defaults.
    const ckpt = (await request(url, 'GET', '/object_info/LoadCheckpoint')).body.LoadCheckpoint;
    expect(ckpt.input.required.ckpt_name[0]).toEqual(['ddit/tiny/model.safetensors']);
    const loadImage = (await request(url, 'GET', '/object_info/LoadImage')).body.LoadImage;
    expect(loadImage.input.required.image[0]).toContain('pic.png');

    const stats = await request(url, 'GET', '/api/system_stats');
    expect(stats.body.system).toMatchObject({ os: process.platform, ddit_version: '0.1.0' });
    expect(stats.body.runtime).toMatchObject({ backend: 'cpu' });
    expect(stats.body.devices[0]).toMatchObject({ type: 'cpu', backend: 'cpu' });
    expect(stats.body.workers[0]).toMatchObject({ state: 'idle', runtime: { backend: 'cpu' } });
    expect(stats.body.workers[0].memory.rss).toBeGreaterThan(0);

    expect((await request(url, 'GET', '/features')).body).toMatchObject({
      supports_preview_metadata: true,
      max_upload_size: 64 * 1024,
    });
    expect((await request(url, 'GET', '/models')).body).toEqual(['ddit']);
    expect((await request(url, 'GET', '/models/ddit')).body).toEqual([
      'config.json',
      'tiny/model.safetensors',
    ]);
    expect((await request(url, 'GET', '/models/nope')).status).toBe(404);
    expect((await request(url, 'GET', '/models/..%2Fddit')).status).toBe(404);

    const plugins = await request(url, 'GET', '/plugins');
    const fx = plugins.body.plugins.find((p: Loose) => p.name === 'imagefx');
    expect(fx).toMatchObject({ status: 'loaded' });
    expect(fx.dir).toBeUndefined();
    expect(plugins.body.extra).toEqual(['extra:server-test']);
    const scripts = (await request(url, 'GET', '/extensions')).body as string[];
    expect(scripts).toContain('/extensions/imagefx/palette.js');
    const js = await fetch(url + scripts[0]);
    expect(js.status).toBe(200);
    expect(await js.text()).toContain('registerExtension');
    expect((await fetch(`${url}/extensions/imagefx/..%2F..%2Fpackage.json`)).status).toBe(404);

    const doc = (await request(url, 'GET', '/openapi.json')).body;
    expect(doc.openapi).toMatch(/^3\./);
    for (const p of [
      '/prompt',
      '/queue',
      '/queue/reorder',
      '/interrupt',
      '/free',
      '/history',
      '/history/{prompt_id}',
      '/jobs',
      '/jobs/{id}',
      '/jobs/{id}/cancel',
      '/jobs/{id}/priority',
      '/jobs/cancel',
      '/object_info',
      '/object_info/{type}',
      '/view',
      '/upload/image',
      '/system_stats',
      '/features',
      '/models',
      '/models/{folder}',
      '/plugins',
      '/extensions',
      '/workflows',
      '/workflows/{name}',
      '/workflows/{name}/run',
      '/openapi.json',
      '/ws',
    ]) {
      expect([p, Boolean(doc.paths[p])]).toEqual([p, true]);
    }
    expect(
      doc.paths['/prompt'].post.requestBody.content['application/json'].schema.properties.client_id,
    ).toBeDefined();

    const home = await fetch(`${url}/`);
    expect(home.status).toBe(200);
    expect(await home.text()).toContain('web editor has not been built');
    // Once the editor is built into web/dist, it is what `/` serves.
    fs.mkdirSync(path.join(server.config.webDir, 'assets'), { recursive: true });
    fs.writeFileSync(path.join(server.config.webDir, 'index.html'), '<!doctype html><title>editor</title>');
    fs.writeFileSync(path.join(server.config.webDir, 'assets', 'app.js'), 'console.log(1)');
    expect(await (await fetch(`${url}/`)).text()).toContain('<title>editor</title>');
    const asset = await fetch(`${url}/assets/app.js`);
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
    const missing = await request(url, 'GET', '/api/nothing-here');
    expect(missing.status).toBe(404);
    expect(missing.body.error.type).toBe('not_found');
    expect((await request(url, 'POST', '/free', { unload_models: true })).status).toBe(200);
  });

  test('a tensor workflow runs on the worker’s runtime (plugin pattern → SaveImage) and /view serves the PNG', async () => {
    const ws = new WsClient(url, 'tensor-client');
    await ws.opened;
    const q = await request(url, 'POST', '/prompt', {
      prompt: {
        '1': {
          class_type: 'imagefx.TestPattern',
          inputs: { pattern: 'checker', width: 24, height: 16, batch: 2 },
        },
        '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'pattern' } },
      },
      client_id: 'tensor-client',
      extra_data: { extra_pnginfo: { workflow: { id: 'wf-1' } } },
    });
    expect(q.status).toBe(200);
    await ws.waitDone(q.body.prompt_id);
    const images = (await request(url, 'GET', `/history/${q.body.prompt_id}`)).body[q.body.prompt_id].outputs[
      '2'
    ].images as { filename: string; subfolder: string; type: string }[];
    expect(images).toHaveLength(2);
    const res = await fetch(`${url}/view?${new URLSearchParams(images[1])}`);
    const decoded = PNG.sync.read(Buffer.from(await res.arrayBuffer()));
    expect([decoded.width, decoded.height]).toEqual([24, 16]);
    const job = (await request(url, 'GET', `/jobs/${q.body.prompt_id}`)).body;
    expect(job).toMatchObject({ outputs_count: 2, workflow_id: 'wf-1', preview_output: { nodeId: '2' } });
    ws.close();
  });

  test('completion webhooks go to allowed hosts only, signed', async () => {
    const refused = await request(url, 'POST', '/prompt', {
      prompt: ARITHMETIC,
      webhook: 'http://169.254.169.254/latest',
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error.type).toBe('invalid_webhook');
    const ok = await request(url, 'POST', '/prompt', { prompt: delayPrompt(1, 'hooked'), webhook: hookUrl });
    expect(ok.status).toBe(200);
    const id = ok.body.prompt_id as string;
    for (let i = 0; i < 200 && !hooks.some((h) => h.body.includes(id)); i++)
      await new Promise((r) => setTimeout(r, 50));
    const hook = hooks.find((h) => h.body.includes(id))!;
    const payload = JSON.parse(hook.body);
    expect(payload).toMatchObject({
      prompt_id: id,
      status: 'success',
      outputs: { '3': { text: ['hooked'] } },
    });
    expect(payload.history[id].status.status_str).toBe('success');
    const sig = 'sha256=' + createHmac('sha256', 'hook-secret').update(hook.body).digest('hex');
    expect(hook.headers['x-ddit-signature']).toBe(sig);
    let status: string | null = null;
    for (let i = 0; i < 50 && !status; i++) {
      status = (await request(url, 'GET', `/jobs/${id}`)).body.webhook_status;
      if (!status) await new Promise((r) => setTimeout(r, 20));
    }
    expect(status).toBe('delivered 200');
  });

  test('browsers on another site are refused (ComfyUI’s origin check), on HTTP and on the WebSocket', async () => {
    const port = new URL(url).port;
    const evil = await request(
      url,
      'POST',
      '/prompt',
      { prompt: ARITHMETIC },
      { origin: 'http://evil.example' },
    );
    expect(evil.status).toBe(403);
    const nullOrigin = await request(url, 'GET', '/queue', undefined, { origin: 'null' });
    expect(nullOrigin.status).toBe(403);
    const same = await request(url, 'GET', '/queue', undefined, { origin: `http://127.0.0.1:${port}` });
    expect(same.status).toBe(200);
    const ws = new WebSocket(`${url.replace('http', 'ws')}/ws`, {
      headers: { origin: 'http://evil.example' },
    });
    const code = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
    });
    expect(code).toBe(403);
  });
});
