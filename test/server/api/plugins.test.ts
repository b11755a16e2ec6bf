import * as path from 'path';
import { type Loose, WsClient, request, startTestServer, type TestServer } from './helpers';
import { tempDir, writeConfig, writePack } from '../plugins/helpers';

/** A pack with a good node, a node that throws and a node that kills its process (plain CommonJS, as npm ships). */
const RISKY = `
const { defineNode } = require('ddit-studio/plugin-api');
const text = { text: { type: 'STRING', default: '' } };
exports.nodes = [
  defineNode({ type: 'Shout', category: 'test', description: 'upper-cases', inputs: text,
    outputs: { text: { type: 'STRING' } }, run: ({ text }) => ({ text: text.toUpperCase() }) }),
  defineNode({ type: 'Fail', category: 'test', description: 'throws', inputs: text,
    outputs: { text: { type: 'STRING' } }, run: ({ text }) => { throw new Error("input 'text': cannot use " + text); } }),
  defineNode({ type: 'Crash', category: 'test', description: 'exits its process', output: true, inputs: {},
    outputs: {}, run: () => process.exit(7) }),
];
`;

/**
 * Plugins in the running server: packs that cannot load are reported by GET /plugins and the log while the
 * server runs the others; a plugin node that throws or crashes its worker fails only its own job.
 */
describe('plugins in the server', () => {
  let server: TestServer;
  let url: string;

  beforeAll(async () => {
    const dir = tempDir('ddit-server-plugins-');
    writePack(
      path.join(dir, 'node_modules', 'ddit-pack-risky'),
      {
        name: 'ddit-pack-risky',
        main: 'index.js',
        ddit: { engine: '^0.1.0' },
      },
      { 'index.js': RISKY },
    );
    writePack(
      path.join(dir, 'packs', 'typo'),
      { name: 'ddit-pack-typo', main: 'i.js', ddit: { engine: '^0.1.0' } },
      {
        'i.js': 'exports.nodes = [;',
      },
    );
    writePack(
      path.join(dir, 'packs', 'later'),
      { name: 'ddit-pack-later', main: 'i.js', ddit: { engine: '^3.0.0' } },
      {
        'i.js': '',
      },
    );
    const config = writeConfig(dir, [
      { path: 'packs/typo' },
      { path: 'packs/later' },
      { package: 'ddit-pack-risky' },
    ]);
    server = await startTestServer({ plugins: { config } }, dir);
    url = server.url;
  });
  afterAll(async () => {
    await server?.close();
  });

  test('GET /plugins reports each pack with the reason it did not load; the log says so too', async () => {
    const body = (await request(url, 'GET', '/plugins')).body;
    const byName = Object.fromEntries(body.plugins.map((p: Loose) => [p.name, p]));
    expect(byName.typo).toMatchObject({ status: 'failed' });
    expect(byName.typo.error).toContain(path.join('packs', 'typo', 'i.js'));
    expect(byName.later).toMatchObject({
      status: 'failed',
      error: 'requires ddit-studio ^3.0.0 but this is 0.1.0; update the pack or ddit-studio',
    });
    expect(byName.risky).toMatchObject({
      status: 'loaded',
      nodes: ['risky.Shout', 'risky.Fail', 'risky.Crash'],
    });
    expect(server.logs.some((l) => l.includes('plugin later (packs/later) failed to load'))).toBe(true);
    const info = (await request(url, 'GET', '/object_info')).body;
    expect(info['risky.Shout'].python_module).toBe('plugin:risky');
  });

  test('a prompt naming a node of a pack that failed is refused, naming the node', async () => {
    const r = await request(url, 'POST', '/prompt', {
      prompt: { '1': { class_type: 'typo.Anything', inputs: {} } },
    });
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body)).toContain('typo.Anything');
  });

  test('a plugin node that throws or crashes its worker fails only its job', async () => {
    const ws = new WsClient(url, 'plugins');
    await ws.opened;
    const queue = async (prompt: object): Promise<string> =>
      (await request(url, 'POST', '/prompt', { prompt, client_id: 'plugins' })).body.prompt_id as string;
    const shout = (t: string): object => ({
      '1': { class_type: 'risky.Shout', inputs: { text: t } },
      '2': { class_type: 'ShowText', inputs: { text: ['1', 0] } },
    });

    const thrown = await queue({
      '1': { class_type: 'risky.Fail', inputs: { text: 'this' } },
      '2': { class_type: 'ShowText', inputs: { text: ['1', 0] } },
    });
    const crashed = await queue({ '1': { class_type: 'risky.Crash', inputs: {} } });
    const fine = await queue(shout('still here'));

    await ws.waitDone(thrown, 30000);
    const err = ws.about(thrown).find(([t]) => t === 'execution_error')![1];
    expect(err).toMatchObject({ node_id: '1', node_type: 'risky.Fail' });
    expect(err.exception_message).toContain("input 'text': cannot use this");
    await ws.waitDone(crashed, 30000);
    expect(ws.about(crashed).find(([t]) => t === 'execution_error')![1]).toMatchObject({
      node_type: 'risky.Crash',
      exception_type: 'WorkerCrashed',
    });
    await ws.waitDone(fine, 30000);
    const h = await request(url, 'GET', `/history/${fine}`);
    expect(h.body[fine].outputs['2']).toEqual({ text: ['STILL HERE'] });
    ws.close();
  });
});
