import type { IncomingMessage } from 'http';
import { isLoopbackHost } from '../../../server/api/config';
import { originAllowed, requestToken, tokenMatches } from '../../../server/api/security';
import { checkWebhookUrl } from '../../../server/api/webhooks';

const req = (headers: Record<string, string>): IncomingMessage => ({ headers }) as unknown as IncomingMessage;

describe('security checks', () => {
  test('loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) {
      expect([h, isLoopbackHost(h)]).toEqual([h, true]);
    }
    for (const h of ['0.0.0.0', '::', '192.168.0.2', 'example.com', '128.0.0.1']) {
      expect([h, isLoopbackHost(h)]).toEqual([h, false]);
    }
  });

  test('the origin check follows ComfyUI: loopback hosts need a matching Origin', () => {
    expect(originAllowed(req({ host: '127.0.0.1:8188' }), [])).toBe(true);
    expect(originAllowed(req({ host: '127.0.0.1:8188', origin: 'http://127.0.0.1:8188' }), [])).toBe(true);
    expect(originAllowed(req({ host: 'localhost:8188', origin: 'http://localhost' }), [])).toBe(true);
    expect(originAllowed(req({ host: '127.0.0.1:8188', origin: 'http://127.0.0.1:9999' }), [])).toBe(false);
    expect(originAllowed(req({ host: '127.0.0.1:8188', origin: 'https://evil.example' }), [])).toBe(false);
    expect(originAllowed(req({ host: 'localhost:8188', origin: 'http://127.0.0.1:8188' }), [])).toBe(false);
    expect(originAllowed(req({ host: '[::1]:8188', origin: 'http://[::1]:8188' }), [])).toBe(true);
    expect(originAllowed(req({ host: '127.0.0.1:8188', origin: 'null' }), [])).toBe(false);
    // Listed origins pass; non-loopback hosts rely on the token instead.
    expect(
      originAllowed(req({ host: '127.0.0.1:8188', origin: 'https://app.example' }), ['https://app.example']),
    ).toBe(true);
    expect(originAllowed(req({ host: 'studio.example:8188', origin: 'https://other.example' }), [])).toBe(
      true,
    );
  });

  test('tokens: Bearer header, then ?token=, then the cookie; compared in constant time', () => {
    const url = new URL('http://x/ws?token=q');
    expect(requestToken(req({ authorization: 'Bearer h' }), url)).toEqual({ token: 'h', fromQuery: false });
    expect(requestToken(req({}), url)).toEqual({ token: 'q', fromQuery: true });
    expect(requestToken(req({ cookie: 'a=1; ddit_token=c%20d' }), new URL('http://x/'))).toEqual({
      token: 'c d',
      fromQuery: false,
    });
    expect(requestToken(req({}), new URL('http://x/')).token).toBeNull();
    expect(tokenMatches('secret-1', 'secret-1')).toBe(true);
    expect(tokenMatches('secret-2', 'secret-1')).toBe(false);
    expect(tokenMatches('', 'secret-1')).toBe(false);
    expect(tokenMatches(null, 'secret-1')).toBe(false);
  });

  test('webhook URLs: http(s) to allowed hosts only', () => {
    const allowed = ['hooks.example', '127.0.0.1:9000'];
    expect(checkWebhookUrl('https://hooks.example/x', allowed)).toBeNull();
    expect(checkWebhookUrl('http://127.0.0.1:9000/cb', allowed)).toBeNull();
    expect(checkWebhookUrl('http://127.0.0.1:9001/cb', allowed)).toMatch(/not in the server's allowed/);
    expect(checkWebhookUrl('http://169.254.169.254/', allowed)).toMatch(/not in the server's allowed/);
    expect(checkWebhookUrl('file:///etc/passwd', allowed)).toMatch(/only http and https/);
    expect(checkWebhookUrl('https://user:pw@hooks.example/', allowed)).toMatch(/credentials/);
    expect(checkWebhookUrl('not a url', allowed)).toMatch(/not a valid URL/);
    expect(checkWebhookUrl('https://hooks.example/', [])).toMatch(/disabled/);
  });
});
