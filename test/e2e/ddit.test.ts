/**
 * The D-DiT nodes in the editor, in headless Chromium against the real server: text to image draws its step
 * previews on the sampler node and the final image on SaveImage; visual question answering draws the
 * masked text filling in on the answering node and the answer on ShowText. The model is a tiny untrained
 * D-DiT checkpoint made here, so this checks the plumbing (messages, drawing), not image quality.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Browser, Page } from 'playwright-core';
import { saveCheckpoint } from '../../nodes/ddit/checkpoint';
import { tf } from '../../server/runtime';
import { tinyModels } from '../helpers/tiny-ddit';
import { launchBrowser, openEditor, shot, startEditorServer, type EditorServer } from './harness';

jest.setTimeout(240_000);

let browser: Browser;
let srv: EditorServer;
let page: Page;
let modelsDir: string;
const pageErrors: string[] = [];

const CKPT = 'tiny-ddit.safetensors';
const loader = { class_type: 'LoadCheckpoint', inputs: { ckpt_name: CKPT, inference: 'tfjs' } };

/** Text to image as an API-format library workflow (the editor lays it out). */
const textToImage = {
  '1': loader,
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
  '5': { class_type: 'FlowMatchScheduler', inputs: { steps: 4, shift: 3, denoise: 1 } },
  '6': { class_type: 'EmptyLatent', inputs: { width: 8, height: 8, batch_size: 1, vae: ['1', 1] } },
  '7': {
    class_type: 'FlowMatchSampler',
    inputs: { guider: ['4', 0], sigmas: ['5', 0], latent: ['6', 0], seed: 7, preview: 'latent2rgb' },
  },
  '8': { class_type: 'VAEDecode', inputs: { samples: ['7', 0], vae: ['1', 1] } },
  '9': { class_type: 'SaveImage', inputs: { images: ['8', 0], filename_prefix: 't2i' } },
};

const vqa = {
  '1': loader,
  '2': { class_type: 'ShapesScene', inputs: { seed: 3, kind: 'mix', caption: 'full', resolution: 8 } },
  '3': {
    class_type: 'AnswerQuestion',
    inputs: {
      model: ['1', 0],
      text_encoder: ['1', 2],
      tokenizer: ['1', 3],
      vae: ['1', 1],
      image: ['2', 0],
      question: 'what is the circle?',
      length: 24,
      steps: 4,
      seed: 1,
    },
  },
  '4': { class_type: 'ShowText', inputs: { text: ['3', 0] } },
};

function live(id: number) {
  return page.evaluate((nid) => {
    const n = window.dditEditor.graph.getNodeById(nid) as unknown as {
      live?: { runState: string; drawn: Record<string, unknown>; output: { text?: string[] } | null };
    } | null;
    return n?.live ? { runState: n.live.runState, drawn: n.live.drawn, output: n.live.output } : null;
  }, id);
}

async function waitFor<T>(
  fn: () => Promise<T | false | null | undefined>,
  what: string,
  ms = 120_000,
): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await fn().catch(() => null);
    if (v) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function openFromLibrary(name: string, nodes: number): Promise<void> {
  await page.click('[data-testid=btn-library]');
  await page.click(`[data-testid=library-list] li[data-name="${name}"] [data-action=open]`);
  await waitFor(
    () => page.evaluate((n) => window.dditEditor.graph._nodes.length === n, nodes),
    `${name} opened`,
  );
}

beforeAll(async () => {
  browser = await launchBrowser();
  modelsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-e2e-models-'));
  await tf.setBackend('cpu');
  const m = tinyModels(0);
  await saveCheckpoint(path.join(modelsDir, CKPT), {
    transformer: m.model,
    vae: m.vae,
    textEncoder: m.encoder,
    tokenizer: m.tokenizer,
  });
  m.dispose();
  srv = await startEditorServer({ modelsDir, workerEnv: { DDIT_BACKEND: 'cpu' } });
  fs.writeFileSync(path.join(srv.workflowsDir, 'tiny-text-to-image.json'), JSON.stringify(textToImage));
  fs.writeFileSync(path.join(srv.workflowsDir, 'tiny-vqa.json'), JSON.stringify(vqa));
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await openEditor(page, srv.url + '/');
});

afterAll(async () => {
  await browser?.close();
  await srv?.close();
  if (modelsDir) fs.rmSync(modelsDir, { recursive: true, force: true });
});

test('the palette lists the D-DiT nodes', async () => {
  const types = await page.evaluate(() => window.dditEditor.nodeSpecs().map((s) => s.type));
  expect(types).toEqual(
    expect.arrayContaining([
      'LoadCheckpoint',
      'FlowMatchSampler',
      'MaskedTextSampler',
      'AnswerQuestion',
      'Caption',
    ]),
  );
});

test('text to image: step previews drawn on the sampler, then the final image', async () => {
  await openFromLibrary('tiny-text-to-image', 9);
  await page.evaluate(() => {
    const seen: number[] = [];
    (window as unknown as { previews: number[] }).previews = seen;
    window.dditEditor.on('progress', (d) => {
      if (String(d.node) !== '7') return;
      setTimeout(() => {
        const n = window.dditEditor.graph.getNodeById(7) as unknown as {
          live: { drawn: { previewFrames: number } };
        };
        seen.push(n.live.drawn.previewFrames);
      }, 150);
    });
  });
  await page.keyboard.press('Control+Enter');
  await waitFor(async () => (await live(9))?.drawn.outputImages === 1, 'the final image on SaveImage');
  const previews = await page.evaluate(() => (window as unknown as { previews: number[] }).previews);
  expect(Math.max(0, ...previews)).toBeGreaterThanOrEqual(1);
  expect((await live(7))?.drawn.previewFrames).toBe(4);
  await shot(page, 'ddit-01-text-to-image');
});

test('visual question answering: the masked text fills in on the node, the answer shows', async () => {
  await openFromLibrary('tiny-vqa', 4);
  await page.evaluate(() => {
    const seen: string[] = [];
    (window as unknown as { states: string[] }).states = seen;
    window.dditEditor.on('ddit.text_state', () =>
      setTimeout(() => {
        const n = window.dditEditor.graph.getNodeById(3) as unknown as {
          live: { drawn: { textState: string } };
        };
        seen.push(n.live.drawn.textState);
      }, 150),
    );
  });
  await page.keyboard.press('Control+Enter');
  const answer = await waitFor(async () => {
    const l = await live(4);
    return l?.output?.text ? l.output.text[0] : null;
  }, 'the answer on ShowText');
  const states = await page.evaluate(() => (window as unknown as { states: string[] }).states);
  // the question is the fixed part of every state drawn; the answer slot starts masked
  expect(states.length).toBeGreaterThan(0);
  expect(states.every((s) => s.includes('q : what is the circle ?'))).toBe(true);
  expect(states.some((s) => s.includes('___'))).toBe(true);
  expect((await live(4))?.drawn.outputText).toBe(answer);
  await shot(page, 'ddit-02-vqa');
  expect(pageErrors).toEqual([]);
});
