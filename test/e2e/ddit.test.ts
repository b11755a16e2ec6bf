/**
 * The D-DiT nodes in the editor, in headless Chromium against the real server with the bundled model
 * (models/ddit-shapes.safetensors): the text-to-image workflow draws its step previews on the sampler node and
 * the final image; the VQA workflow draws the masked text filling in on the answering node and the answer.
 * The library's own workflows/text-to-image.json and workflows/vqa.json are used when the repository has them;
 * until then, equivalent stand-ins written here (the test says which it ran).
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, openEditor, ROOT, shot, startEditorServer, type EditorServer } from './harness';

jest.setTimeout(300_000);

let browser: Browser;
let srv: EditorServer;
let page: Page;
const pageErrors: string[] = [];

const CKPT = 'ddit-shapes.safetensors';
const loader = { class_type: 'LoadCheckpoint', inputs: { ckpt_name: CKPT }, _meta: { title: 'checkpoint' } };

/** Stand-in for workflows/text-to-image.json (API format; the editor lays it out). */
const textToImage = {
  '1': loader,
  '2': {
    class_type: 'TextEncode',
    inputs: { tokenizer: ['1', 3], text_encoder: ['1', 2], text: 'a red circle', length: 32 },
  },
  '3': {
    class_type: 'TextEncode',
    inputs: { tokenizer: ['1', 3], text_encoder: ['1', 2], text: '', length: 32 },
  },
  '4': {
    class_type: 'CFGGuider',
    inputs: { model: ['1', 0], positive: ['2', 0], negative: ['3', 0], cfg: 4 },
  },
  '5': { class_type: 'FlowMatchScheduler', inputs: { steps: 6, shift: 3, denoise: 1 } },
  '6': { class_type: 'EmptyLatent', inputs: { width: 32, height: 32, batch_size: 1, vae: ['1', 1] } },
  '7': {
    class_type: 'FlowMatchSampler',
    inputs: { guider: ['4', 0], sigmas: ['5', 0], latent: ['6', 0], seed: 7, preview: 'latent2rgb' },
  },
  '8': { class_type: 'VAEDecode', inputs: { samples: ['7', 0], vae: ['1', 1] } },
  '9': { class_type: 'SaveImage', inputs: { images: ['8', 0], filename_prefix: 'text-to-image' } },
};

/** Stand-in for workflows/vqa.json. */
const vqa = {
  '1': loader,
  '2': { class_type: 'ShapesScene', inputs: { seed: 3, kind: 'mix', caption: 'full', resolution: 32 } },
  '3': {
    class_type: 'AnswerQuestion',
    inputs: {
      model: ['1', 0],
      text_encoder: ['1', 2],
      tokenizer: ['1', 3],
      vae: ['1', 1],
      image: ['2', 0],
      question: 'what is the circle?',
      length: 32,
      steps: 6,
      seed: 1,
    },
  },
  '4': { class_type: 'ShowText', inputs: { text: ['3', 0] } },
};

/** The library workflow `name`: the repository's when it has one, else the stand-in (written to the library). */
function libraryWorkflow(name: string, standIn: object): string {
  const file = path.join(srv.workflowsDir, `${name}.json`);
  const shipped = fs.existsSync(path.join(ROOT, 'workflows', `${name}.json`));
  if (!shipped) fs.writeFileSync(file, JSON.stringify(standIn));
  console.log(
    `${name}: ${shipped ? `workflows/${name}.json from the repository` : 'stand-in written by the test'}`,
  );
  return name;
}

/** Id of the first node of one of these types on the canvas. */
function nodeOfType(...types: string[]): Promise<number> {
  return page.evaluate((ts) => {
    const n = window.dditEditor.graph._nodes.find((x) => ts.includes(String(x.type)));
    if (!n) throw new Error(`no node of type ${ts.join(' or ')} on the canvas`);
    return Number(n.id);
  }, types);
}

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

async function openFromLibrary(name: string): Promise<void> {
  await page.click('[data-testid=btn-library]');
  await page.click(`[data-testid=library-list] li[data-name="${name}"] [data-action=open]`);
  await page.waitForSelector(`[data-testid=wf-name][data-name="${name}"]`);
}

beforeAll(async () => {
  expect(fs.existsSync(path.join(ROOT, 'models', CKPT))).toBe(true);
  browser = await launchBrowser();
  srv = await startEditorServer();
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await openEditor(page, srv.url + '/');
});

afterAll(async () => {
  await browser?.close();
  await srv?.close();
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
  await openFromLibrary(libraryWorkflow('text-to-image', textToImage));
  const sampler = await nodeOfType('FlowMatchSampler');
  const output = await nodeOfType('SaveImage', 'PreviewImage');
  await page.evaluate((id) => {
    const seen: number[] = [];
    (window as unknown as { previews: number[] }).previews = seen;
    window.dditEditor.on('progress', (d) => {
      if (String(d.node) !== String(id)) return;
      setTimeout(() => {
        const n = window.dditEditor.graph.getNodeById(id) as unknown as {
          live: { drawn: { previewFrames: number } };
        };
        seen.push(n.live.drawn.previewFrames);
      }, 150);
    });
  }, sampler);
  await page.keyboard.press('Control+Enter');
  await waitFor(
    async () => ((await live(output))?.drawn.outputImages as number) >= 1,
    'the final image on the output node',
  );
  const previews = await page.evaluate(() => (window as unknown as { previews: number[] }).previews);
  // a preview was on the sampler node while it ran, and every step's preview was drawn
  expect(Math.max(0, ...previews)).toBeGreaterThanOrEqual(1);
  const steps = await page.evaluate(() => {
    const p = window.dditEditor.toApiPrompt();
    const sched = Object.values(p).find((n) => n.class_type === 'FlowMatchScheduler');
    return Number(sched?.inputs.steps);
  });
  expect((await live(sampler))?.drawn.previewFrames).toBe(steps);
  await shot(page, 'ddit-01-text-to-image');
});

test('visual question answering: the masked text fills in on the node, the answer shows', async () => {
  await openFromLibrary(libraryWorkflow('vqa', vqa));
  const answering = await nodeOfType('AnswerQuestion', 'MaskedTextSampler');
  const shown = await nodeOfType('ShowText');
  const question = await page.evaluate(
    (id) => String(window.dditEditor.toApiPrompt()[String(id)].inputs.question ?? ''),
    answering,
  );
  await page.evaluate((id) => {
    // Every distinct text state the node has drawn, sampled each animation frame (the run may
    // finish within a few frames, so reading after each message would only see the last one).
    const seen: string[] = [];
    (window as unknown as { states: string[] }).states = seen;
    const watch = (): void => {
      const n = window.dditEditor.graph.getNodeById(id) as unknown as {
        live?: { drawn?: { textState?: string } };
      };
      const s = n.live?.drawn?.textState;
      if (s && s !== seen[seen.length - 1]) seen.push(s);
      requestAnimationFrame(watch);
    };
    watch();
  }, answering);
  await page.keyboard.press('Control+Enter');
  const { answer } = await waitFor(async () => {
    const l = await live(shown);
    return l?.output?.text ? { answer: l.output.text[0] } : null;
  }, 'the answer on ShowText');
  const states = await page.evaluate(() => (window as unknown as { states: string[] }).states);
  // the question is the fixed part of every state drawn; the answer slot starts masked
  expect(states.length).toBeGreaterThan(0);
  const words = question.toLowerCase().replace(/[?.,]/g, ' ').split(/\s+/).filter(Boolean);
  expect(states.every((s) => words.every((w) => s.includes(w)))).toBe(true);
  expect(states.some((s) => s.includes('___'))).toBe(true);
  expect((await live(shown))?.drawn.outputText).toBe(answer);
  await shot(page, 'ddit-02-vqa');
  expect(pageErrors).toEqual([]);
});
