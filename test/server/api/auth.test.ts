import { resolveConfig, ConfigError } from '../../../server/api/config';
import { ARITHMETIC, WsClient, request, startTestServer, type TestServer } from './helpers';

const TOKEN = 'test-token-0123456789';

describe('API token', () => {
  test('binding a non-loopback address without a token is refused at start', () => {
    expect(() => resolveConfig({ host: '0.0.0.0', token: null })).toThrow(ConfigError);
    expect(() => resolveConfig({ host: '0.0.0.0', token: null })).toThrow(/--token/);
    expect(() => resolveConfig({ host: '192.168.1.5', token: 'short' })).toThrow(/at least 8/);
    expect(resolveConfig({ host: '127.0.0.1', token: null }).token).toBeNull();
    expect(resolveConfig({ host: '::1', token: null }).token).toBeNull();
  });

  describe('a server on 0.0.0.0 with a token', () => {
    let server: TestServer;
    let url: string;

    beforeAll(async () => {
      server = await startTestServer({ host: '0.0.0.0', token: TOKEN });
      url = `http://127.0.0.1:${server.port}`;
    });
    afterAll(async () => {
      await server?.close();
    });

    test('HTTP requests without the right token get 401; Bearer, ?token= and the cookie it sets work', async () => {
      for (const route of ['/system_stats', '/api/queue', '/openapi.json', '/', '/view?filename=x.png']) {
        const r = await request(url, 'GET', route);
        expect([route, r.status]).toEqual([route, 401]);
        expect(r.headers.get('www-authenticate')).toBe('Bearer');
      }
      const queued = await request(url, 'POST', '/prompt', { prompt: ARITHMETIC });
      expect(queued.status).toBe(401);
      expect(queued.body.error.type).toBe('unauthorized');
      expect(
        (await request(url, 'GET', '/queue', undefined, { authorization: 'Bearer wrong-token' })).status,
      ).toBe(401);
      expect((await request(url, 'GET', '/queue?token=wrong-token')).status).toBe(401);

      const bearer = await request(url, 'GET', '/queue', undefined, { authorization: `Bearer ${TOKEN}` });
      expect(bearer.status).toBe(200);
      expect(bearer.body).toEqual({ queue_running: [], queue_pending: [] });
      const viaQuery = await request(url, 'GET', `/system_stats?token=${TOKEN}`);
      expect(viaQuery.status).toBe(200);
      const cookie = viaQuery.headers.get('set-cookie')!;
      expect(cookie).toMatch(/ddit_token=.*HttpOnly.*SameSite=Strict/i);
      const withCookie = await request(url, 'GET', '/features', undefined, { cookie: cookie.split(';')[0] });
      expect(withCookie.status).toBe(200);
    });

    test('the WebSocket needs the token too; with it a job runs end to end', async () => {
      const denied = new WsClient(url, 'no-token');
      await expect(denied.opened).rejects.toThrow('401');
      const viaHeader = new WsClient(url, 'header-client', { headers: { authorization: `Bearer ${TOKEN}` } });
      await viaHeader.opened;
      viaHeader.close();

      const ws = new WsClient(url, 'token-client', { query: `&token=${TOKEN}` });
      await ws.opened;
      const q = await request(
        url,
        'POST',
        '/prompt',
        { prompt: ARITHMETIC, client_id: 'token-client' },
        { authorization: `Bearer ${TOKEN}` },
      );
      expect(q.status).toBe(200);
      await ws.waitDone(q.body.prompt_id);
      const h = await request(url, 'GET', `/history/${q.body.prompt_id}?token=${TOKEN}`);
      expect(h.body[q.body.prompt_id].outputs['6']).toEqual({ text: ['The answer is 42'] });
      ws.close();
    });
  });
});
