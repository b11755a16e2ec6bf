import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PNG } from 'pngjs';
import { saveCheckpoint } from '../../../nodes/ddit/checkpoint';
import { tf } from '../../../server/runtime';
import { tinyModels } from '../../helpers/tiny-ddit';
import { WsClient, request, startTestServer, type Loose, type TestServer } from './helpers';

/**
 * Text to image through the server, as the issue asks: a (tiny, untrained) D-DiT checkpoint in the server's
 * models folder, the model nodes in the worker on the tensor runtime, events and step previews on the socket,
 * the saved PNG through /view.
 */
describe('text to image through the server', () => {
  let server: TestServer;
  let url: string;

  beforeAll(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-t2i-'));
    fs.mkdirSync(path.join(dir, 'models'), { recursive: true });
    await tf.setBackend('cpu');
    const m = tinyModels(0);
    await saveCheckpoint(path.join(dir, 'models', 'tiny-ddit.safetensors'), {
      transformer: m.model,
      vae: m.vae,
      textEncoder: m.encoder,
      tokenizer: m.tokenizer,
    });
    m.dispose();
    server = await startTestServer({ startRuntime: true, workerEnv: { DDIT_BACKEND: 'cpu' } }, dir);
    url = server.url;
  });
  afterAll(async () => {
    await server?.close();
  });

  test('executing, progress with binary previews, executed and success arrive in order; /view serves the image', async () => {
    const ws = new WsClient(url, 't2i');
    await ws.opened;
    const steps = 3;
    const prompt = {
      '1': {
        class_type: 'LoadCheckpoint',
        inputs: { ckpt_name: 'tiny-ddit.safetensors', inference: 'tfjs' },
      },
      '2': {
        class_type: 'TextEncode',
        inputs: { tokenizer: ['1', 3], text_encoder: ['1', 2], text: 'a red circle', length: 8 },
      },
      '3': {
        class_type: 'TextEncode',
        inputs: { tokenizer: ['1', 3], text_encoder: ['1', 2], text: '', length: 8 },
      },
      '4': {
        class_type: 'CFGGuider',
        inputs: { model: ['1', 0], positive: ['2', 0], negative: ['3', 0], cfg: 4 },
      },
      '5': { class_type: 'FlowMatchScheduler', inputs: { steps, shift: 3, denoise: 1 } },
      '6': { class_type: 'EmptyLatent', inputs: { width: 8, height: 8, batch_size: 1, vae: ['1', 1] } },
      '7': {
        class_type: 'FlowMatchSampler',
        inputs: { guider: ['4', 0], sigmas: ['5', 0], latent: ['6', 0], seed: 7, preview: 'latent2rgb' },
      },
      '8': { class_type: 'VAEDecode', inputs: { samples: ['7', 0], vae: ['1', 1] } },
      '9': { class_type: 'SaveImage', inputs: { images: ['8', 0], filename_prefix: 't2i' } },
    };
    const q = await request(url, 'POST', '/prompt', { prompt, client_id: 't2i' });
    expect([q.status, q.body.node_errors]).toEqual([200, {}]);
    const id = q.body.prompt_id as string;
    await ws.waitDone(id, 60000);

    const seq = ws.messages
      .filter((m) => m.kind === 'binary' || (m.data?.prompt_id === id && m.type !== 'progress_state'))
      .map((m) =>
        m.kind === 'binary'
          ? `binary${m.frame.type}`
          : m.type === 'executing'
            ? `executing ${m.data.node}`
            : m.type,
      );
    expect(seq.slice(0, 2)).toEqual(['execution_start', 'execution_cached']);
    const sampler = seq.indexOf('executing 7');
    expect(sampler).toBeGreaterThan(0);
    expect(seq.slice(sampler + 1, sampler + 1 + 2 * steps)).toEqual(
      Array(steps).fill(['progress', 'binary1']).flat(),
    );
    expect(seq.slice(-4)).toEqual(['executing 9', 'executed', 'execution_success', 'executing null']);
    for (const m of ws.messages) {
      if (m.kind !== 'binary') continue;
      // latent2rgb previews are drawn at latent resolution (8 px / 2), as ComfyUI's
      const preview = PNG.sync.read(m.frame.image!);
      expect([preview.width, preview.height]).toEqual([4, 4]);
    }
    const executed = ws.about(id).find(([t]) => t === 'executed')![1] as Loose;
    expect(executed.node).toBe('9');
    const image = executed.output.images[0];
    const res = await fetch(`${url}/view?${new URLSearchParams(image)}`);
    expect(res.status).toBe(200);
    const png = PNG.sync.read(Buffer.from(await res.arrayBuffer()));
    expect([png.width, png.height]).toEqual([8, 8]);
    ws.close();
  });
});
