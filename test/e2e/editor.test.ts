/**
 * The editor end to end, in headless Chromium against the real server: load, find nodes, run a workflow
 * and watch its intermediate states, build a graph with the mouse, save and reopen, errors, the queue
 * panel, uploads, PNG workflows, extensions, reconnecting. Screenshots go to test-artifacts/e2e/.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Browser, Page } from 'playwright-core';
import { interpretNodeDef, type NodeSpec } from '../../web/src/node-defs';
import type { ApiPrompt, ObjectInfo } from '../../web/src/protocol';
import { isApiPrompt, isEditorWorkflow, workflowToApiPrompt } from '../../web/src/workflow-format';
import {
  ARTIFACTS,
  ROOT,
  drag,
  graphPoint,
  launchBrowser,
  openEditor,
  shot,
  slotPoint,
  startEditorServer,
  widgetPoint,
  type EditorServer,
} from './harness';

jest.setTimeout(180_000);

let browser: Browser;
let srv: EditorServer;
let page: Page;
const pageErrors: string[] = [];

/** A workflow exercising every live state: previews, masked text, training curve, saved image. */
function liveWorkflow(stepMs = 250) {
  return {
    last_node_id: 4,
    last_link_id: 1,
    nodes: [
      {
        id: 1,
        type: 'editortest.PreviewSampler',
        pos: [40, 40],
        outputs: [{ name: 'image', type: 'IMAGE', links: [1] }],
        widgets_values: { steps: 6, seed: 3, step_ms: stepMs, prompt: 'a red disc' },
        properties: { control_after_generate: { seed: 'increment' } },
      },
      {
        id: 2,
        type: 'editortest.SaveImage',
        pos: [400, 40],
        inputs: [
          { name: 'image', type: 'IMAGE', link: 1 },
          { name: 'filename_prefix', type: 'STRING', link: null, widget: { name: 'filename_prefix' } },
        ],
        widgets_values: { filename_prefix: 'e2e' },
      },
      {
        id: 3,
        type: 'editortest.MaskedText',
        pos: [40, 430],
        widgets_values: {
          question: 'what colour is the disc?',
          answer: 'the disc is red',
          steps: 4,
          step_ms: stepMs,
        },
      },
      {
        id: 4,
        type: 'editortest.TrainCurve',
        pos: [400, 430],
        widgets_values: { steps: 30, step_ms: 30 },
      },
    ],
    links: [[1, 1, 0, 2, 0, 'IMAGE']],
    groups: [],
    version: 0.4,
  };
}

/** An API prompt with every widget the editor shows filled in (the editor always sends them all). */
function withDefaults(prompt: ApiPrompt, specs: Record<string, NodeSpec>): ApiPrompt {
  const out: ApiPrompt = {};
  for (const [id, n] of Object.entries(prompt)) {
    const inputs = { ...n.inputs };
    for (const w of specs[n.class_type]?.widgets ?? []) if (!(w.name in inputs)) inputs[w.name] = w.default;
    out[id] = { ...n, inputs };
  }
  return out;
}

async function waitFor<T>(
  fn: () => Promise<T | false | null | undefined>,
  what: string,
  ms = 60_000,
): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what} (last: ${String(last)})`);
}

function live(id: number) {
  return page.evaluate((nid) => {
    const n = window.dditEditor.graph.getNodeById(nid) as unknown as {
      live?: {
        runState: string;
        drawn: Record<string, unknown>;
        error: { message: string; inputs: Map<string, string> } | null;
      };
    } | null;
    if (!n?.live) return null;
    return {
      runState: n.live.runState,
      drawn: n.live.drawn,
      error: n.live.error ? { message: n.live.error.message, inputs: [...n.live.error.inputs.keys()] } : null,
    };
  }, id);
}

async function importFile(file: string): Promise<void> {
  const chooser = page.waitForEvent('filechooser');
  await page.click('[data-testid=btn-import]');
  await (await chooser).setFiles(file);
}

/**
 * Drops a file at a client point, or on the centre of node `at.node` (found after a frame, in the same page task as
 * the drop, so no layout or view change comes between them). Returns the element hit and the node the editor finds
 * there.
 */
async function dropFile(
  at: [number, number] | { node: number },
  name: string,
  mime: string,
  bytes: Buffer,
): Promise<{ element: string | null; node: string | null }> {
  return page.evaluate(
    async ({ point, nodeId, n, m, b64 }) => {
      const ed = window.dditEditor;
      let [x, y] = point ?? [0, 0];
      if (nodeId !== null) {
        await new Promise((r) => requestAnimationFrame(() => r(null)));
        const node = ed.graph.getNodeById(nodeId)!;
        const c = ed.canvas.ds.convertOffsetToCanvas([
          node.pos[0] + node.size[0] / 2,
          node.pos[1] + node.size[1] / 2,
        ]);
        const r = ed.canvas.canvas.getBoundingClientRect();
        [x, y] = [r.left + c[0], r.top + c[1]];
      }
      const target = document.elementFromPoint(x, y);
      const found = ed.graph.getNodeOnPos(
        ...(ed.canvas.convertEventToCanvasOffset({ clientX: x, clientY: y } as never) as [number, number]),
      );
      const bin = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bin], n, { type: m }));
      for (const type of ['dragenter', 'dragover', 'drop']) {
        target?.dispatchEvent(
          new DragEvent(type, { bubbles: true, cancelable: true, clientX: x, clientY: y, dataTransfer: dt }),
        );
      }
      return { element: target?.tagName ?? null, node: found?.type ?? null };
    },
    {
      point: Array.isArray(at) ? at : null,
      nodeId: Array.isArray(at) ? null : at.node,
      n: name,
      m: mime,
      b64: bytes.toString('base64'),
    },
  );
}

/** The default workflow's node count: the shipped text-to-image, or a stand-in when it is not there yet. */
let defaultNodes = 0;

beforeAll(async () => {
  browser = await launchBrowser();
  srv = await startEditorServer();
  const t2i = path.join(srv.workflowsDir, 'text-to-image.json');
  if (!fs.existsSync(t2i)) fs.writeFileSync(t2i, JSON.stringify(liveWorkflow()));
  const doc = JSON.parse(fs.readFileSync(t2i, 'utf8'));
  defaultNodes = Array.isArray(doc.nodes) ? doc.nodes.length : Object.keys(doc.prompt ?? doc).length;
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('pageerror', (e) => pageErrors.push(e.message));
});

afterAll(async () => {
  await browser?.close();
  await srv?.close();
});

test('the editor loads, connects and reports its load time', async () => {
  // Cold: the first page of a just-started browser. First visit: a new profile (empty cache) in a running
  // browser. Reload: cached bundle.
  const ms = await openEditor(page, srv.url + '/');
  const ctx = await browser.newContext();
  const fresh = await openEditor(await ctx.newPage(), srv.url + '/');
  await ctx.close();
  // A second load shows the cached case, closer to what a user sees after the first visit.
  const again = await openEditor(page, srv.url + '/');
  const marks = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
    const out: Record<string, number> = {
      response_end: nav.responseEnd,
      dom_content_loaded: nav.domContentLoadedEventEnd,
    };
    for (const m of performance.getEntriesByType('mark'))
      if (m.name.startsWith('ddit:')) out[m.name.slice(5)] = m.startTime;
    for (const k of Object.keys(out)) out[k] = Math.round(out[k]);
    return out;
  });
  console.log(
    `editor page load to interactive: cold browser ${ms} ms, first visit ${fresh} ms, reload ${again} ms; ` +
      `reload steps (ms): ${JSON.stringify(marks)}`,
  );
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  fs.writeFileSync(
    path.join(ARTIFACTS, 'load-time.json'),
    JSON.stringify({ cold_browser_ms: ms, first_visit_ms: fresh, reload_ms: again, reload_steps_ms: marks }) +
      '\n',
  );
  await page.waitForSelector('[data-testid=conn][data-state=open]');
  // a first visit opens the library's text-to-image workflow
  expect(await page.getAttribute('[data-testid=wf-name]', 'data-name')).toBe('text-to-image');
  expect(await page.evaluate(() => window.dditEditor.graph._nodes.length)).toBe(defaultNodes);
  const types = await page.evaluate(() => window.dditEditor.nodeSpecs().map((s) => s.type));
  expect(types).toEqual(expect.arrayContaining(['Int', 'IntMath', 'ShowText', 'editortest.PreviewSampler']));
  await shot(page, '01-loaded');
  expect(pageErrors).toEqual([]);
});

test('double-click opens a searchable node palette; the category menu lists node types', async () => {
  await page.click('[data-testid=btn-new]');
  const p = await graphPoint(page, 300, 200);
  await page.mouse.dblclick(p[0], p[1]);
  await page.waitForSelector('[data-testid=palette]');
  const all = await page.$$eval('[data-testid=palette-list] li[data-type]', (els) => els.length);
  expect(all).toBeGreaterThan(10);
  await page.fill('[data-testid=palette-input]', 'preview sampler');
  const found = await page.$$eval('[data-testid=palette-list] li[data-type]', (els) =>
    els.map((e) => e.getAttribute('data-type')),
  );
  expect(found[0]).toBe('editortest.PreviewSampler');
  await shot(page, '02-palette');
  await page.keyboard.press('Enter');
  await waitFor(
    () => page.evaluate(() => window.dditEditor.graph._nodes.length === 1),
    'node added from the palette',
  );
  const added = await page.evaluate(() => {
    const n = window.dditEditor.graph._nodes[0];
    return { type: n.type, pos: [Math.round(n.pos[0]), Math.round(n.pos[1])] };
  });
  expect(added).toEqual({ type: 'editortest.PreviewSampler', pos: [300, 200] });

  await page.click('[data-testid=btn-nodes]');
  await page.click('[data-testid=nodes-menu] li[data-category=utils] > .menu-cat-label');
  await page.click('[data-testid=nodes-menu] li[data-category="utils/math"] > .menu-cat-label');
  await shot(page, '03-category-menu');
  await page.click('[data-testid=nodes-menu] li.menu-node[data-type=IntMath]');
  const types = await page.evaluate(() => window.dditEditor.graph._nodes.map((n) => n.type));
  expect(types).toEqual(['editortest.PreviewSampler', 'IntMath']);
});

test('a workflow runs with step previews, masked text, a live loss chart and final outputs', async () => {
  const file = path.join(srv.dir, 'live-workflow.json');
  fs.writeFileSync(file, JSON.stringify(liveWorkflow()));
  await importFile(file);
  await waitFor(() => page.evaluate(() => window.dditEditor.graph._nodes.length === 4), 'imported workflow');
  // Record what the nodes had drawn shortly after each intermediate message.
  await page.evaluate(() => {
    const seen = { previews: [] as number[], text: [] as string[], running: [] as string[] };
    (window as unknown as { seen: typeof seen }).seen = seen;
    const ed = window.dditEditor;
    const drawnOf = (id: number) =>
      (
        ed.graph.getNodeById(id) as unknown as {
          live: { drawn: { previewFrames: number; textState: string }; runState: string };
        }
      ).live;
    ed.on('progress', (d) => {
      if (String(d.node) !== '1') return;
      setTimeout(() => {
        seen.previews.push(drawnOf(1).drawn.previewFrames);
        seen.running.push(drawnOf(1).runState);
      }, 120);
    });
    ed.on('ddit.text_state', () => setTimeout(() => seen.text.push(drawnOf(3).drawn.textState), 120));
  });
  await page.keyboard.press('Control+Enter');
  // the seed was queued as 3 and moved on to 4 for the next run (control after generate: increment)
  await waitFor(
    () => page.evaluate(() => window.dditEditor.toApiPrompt()['1'].inputs.seed === 4),
    'seed incremented after queueing',
  );
  await waitFor(async () => (await live(1))?.runState === 'running', 'sampler running');
  await waitFor(async () => ((await live(1))?.drawn.previewFrames as number) >= 2, 'a step preview drawn');
  await shot(page, '04-running-previews');
  await waitFor(async () => (await live(2))?.drawn.outputImages === 1, 'final image drawn', 90_000);
  await waitFor(async () => (await live(3))?.drawn.outputText === 'the disc is red', 'answer text drawn');
  await waitFor(
    async () => (await live(4))?.drawn.sampleCaption === 'a red disc on blue',
    'training sample drawn',
  );
  const seen = await page.evaluate(
    () => (window as unknown as { seen: { previews: number[]; text: string[]; running: string[] } }).seen,
  );
  expect(Math.max(...seen.previews)).toBeGreaterThanOrEqual(2);
  expect(seen.running).toContain('running');
  // masked positions were drawn as blanks after the fixed question
  expect(seen.text.some((t) => /^what colour is the disc\? .*___/.test(t))).toBe(true);
  const train = await live(4);
  expect(train?.drawn.chartPoints).toBe(30);
  // the sample image is drawn once its <img> has loaded, which may come after its caption
  await waitFor(async () => (await live(4))?.drawn.sampleImages === 1, 'training sample image drawn');
  await page.waitForFunction(() =>
    /^idle|queued/.test(document.querySelector('[data-testid=overall-label]')!.textContent!),
  );
  await shot(page, '05-done');
  // the saved image is on the server
  expect(fs.readdirSync(srv.outputDir).some((f) => f.startsWith('e2e_'))).toBe(true);

  // click the output image to enlarge it, with a download link
  const img = await page.evaluate(() => {
    const n = window.dditEditor.graph.getNodeById(2) as unknown as {
      hits: { rect: number[]; kind: string }[];
      pos: number[];
    };
    const hit = n.hits.find((h) => h.kind === 'image')!;
    return [n.pos[0] + hit.rect[0] + hit.rect[2] / 2, n.pos[1] + hit.rect[1] + hit.rect[3] / 2];
  });
  const p = await graphPoint(page, img[0], img[1]);
  await page.mouse.click(p[0], p[1]);
  await page.waitForSelector('#lightbox img.lightbox-img');
  await page.waitForFunction(
    () => (document.querySelector('#lightbox img') as HTMLImageElement).naturalWidth > 0,
  );
  const href = await page.getAttribute('#lightbox [data-action=download]', 'href');
  expect(href).toMatch(/\/view\?filename=e2e_/);
  await shot(page, '06-enlarged');
  await page.keyboard.press('Escape');

  // the queue panel lists the finished prompt with its image
  await page.click('[data-testid=btn-panel]');
  await page.waitForSelector('[data-testid=queue-panel] li[data-state=done] img.queue-thumb');
  await shot(page, '07-queue-panel');
});

test('a graph built with the mouse: palette, links (incompatible ones refused), widget edits, run', async () => {
  if (await page.$('[data-testid=queue-panel].open')) await page.click('[data-testid=btn-panel]');
  await page.click('[data-testid=btn-new]');
  const add = async (type: string, x: number, y: number): Promise<number> => {
    const p = await graphPoint(page, x, y);
    await page.mouse.dblclick(p[0], p[1]);
    await page.waitForSelector('[data-testid=palette]');
    await page.fill('[data-testid=palette-input]', type);
    await page.click(`[data-testid=palette-list] li[data-type="${type}"]`);
    return page.evaluate(() => {
      const nodes = window.dditEditor.graph._nodes;
      return Number(nodes[nodes.length - 1].id);
    });
  };
  const int = await add('Int', 40, 60);
  const math = await add('IntMath', 330, 60);
  const show = await add('ShowText', 640, 260);

  const frame = () =>
    page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  const link = async (from: number, out: number, to: number, input: string) => {
    await frame();
    await drag(page, await slotPoint(page, from, 'output', out), await slotPoint(page, to, 'input', input));
    await waitFor(
      () =>
        page.evaluate(
          ([t, name]) => {
            const n = window.dditEditor.graph.getNodeById(t)!;
            return n.inputs.find((i) => i.name === name)!.link != null;
          },
          [to, input] as const,
        ),
      `link ${from}:${out} → ${to}.${input}`,
      5000,
    );
  };
  await frame();
  // Int (INT) cannot feed ShowText's STRING input
  await drag(page, await slotPoint(page, int, 'output', 0), await slotPoint(page, show, 'input', 'text'));
  expect(
    await page.evaluate((id) => window.dditEditor.graph.getNodeById(id)!.inputs[0].link, show),
  ).toBeNull();

  await link(int, 0, math, 'a');
  // a link dropped on empty canvas opens the palette with only nodes that take an INT; the pick is linked
  await frame();
  const out = await slotPoint(page, math, 'output', 0);
  const empty = await graphPoint(page, 640, 60);
  await drag(page, out, empty);
  await page.waitForSelector('[data-testid=palette]');
  const offered = await page.$$eval('[data-testid=palette-list] li[data-type]', (els) =>
    els.map((e) => e.getAttribute('data-type')),
  );
  expect(offered).toContain('ToString');
  expect(offered).not.toContain('ShowText');
  await page.fill('[data-testid=palette-input]', 'ToString');
  await page.click('[data-testid=palette-list] li[data-type="ToString"]');
  const str = await page.evaluate(() => {
    const nodes = window.dditEditor.graph._nodes;
    return Number(nodes[nodes.length - 1].id);
  });
  expect(
    await page.evaluate((id) => window.dditEditor.graph.getNodeById(id)!.inputs[0].link != null, str),
  ).toBe(true);
  await link(str, 0, show, 'text');
  const links = await page.evaluate(
    () => window.dditEditor.graph.links.size ?? Object.keys(window.dditEditor.graph.links).length,
  );
  expect(links).toBe(3);

  // edit values through the widgets' own prompts
  const setNumber = async (id: number, name: string, value: string) => {
    const p = await widgetPoint(page, id, name);
    await page.mouse.click(p[0], p[1]);
    await page.waitForSelector('.graphdialog input');
    await page.fill('.graphdialog input', value);
    await page.keyboard.press('Enter');
    await page.waitForSelector('.graphdialog', { state: 'detached' });
  };
  await setNumber(int, 'value', '6');
  await setNumber(math, 'b', '7');
  const prompt = await page.evaluate(() => window.dditEditor.toApiPrompt());
  expect(prompt[String(math)]).toEqual({
    class_type: 'IntMath',
    inputs: { a: [String(int), 0], b: 7, op: 'add' },
  });
  expect(prompt[String(int)].inputs).toEqual({ value: 6 });
  await shot(page, '08-built-graph');

  await page.keyboard.press('Control+Enter');
  await waitFor(async () => (await live(show))?.drawn.outputText === '13', 'ShowText shows 6 + 7');
  await shot(page, '09-built-graph-ran');
});

test('saved to the library, reopened after a reload; unsaved edits survive a reload', async () => {
  await page.click('[data-testid=btn-save]');
  await page.fill('.backdrop input.text-input', 'e2e-small-graph');
  await page.keyboard.press('Enter');
  await page.waitForSelector('[data-testid=wf-name][data-dirty=false]');
  const saved = JSON.parse(fs.readFileSync(path.join(srv.workflowsDir, 'e2e-small-graph.json'), 'utf8'));
  const math = saved.nodes.find((n: { type: string }) => n.type === 'IntMath');
  expect(math.widgets_values).toEqual({ a: 0, b: 7, op: 'add' });

  await page.reload();
  await page.waitForFunction(() => !!window.dditEditor?.ready);
  expect(await page.getAttribute('[data-testid=wf-name]', 'data-name')).toBe('e2e-small-graph');
  expect(await page.getAttribute('[data-testid=wf-name]', 'data-dirty')).toBe('false');

  await page.click('[data-testid=btn-new]');
  expect(await page.evaluate(() => window.dditEditor.graph._nodes.length)).toBe(0);
  await page.click('[data-testid=btn-library]');
  await page.waitForSelector('[data-testid=library-list] li[data-name="e2e-small-graph"]');
  await shot(page, '10-library');
  await page.click('[data-testid=library-list] li[data-name="e2e-small-graph"] [data-action=open]');
  await waitFor(() => page.evaluate(() => window.dditEditor.graph._nodes.length === 4), 'reopened graph');
  const reopened = await page.evaluate(() => window.dditEditor.toApiPrompt());
  expect(Object.values(reopened).find((n) => n.class_type === 'IntMath')?.inputs.b).toBe(7);

  // save as a copy, then delete the copy from the library
  await page.click('[data-testid=btn-save-as]');
  await page.fill('.backdrop input.text-input', 'e2e-copy');
  await page.keyboard.press('Enter');
  await page.waitForSelector('[data-testid=wf-name][data-name="e2e-copy"][data-dirty=false]');
  expect(fs.existsSync(path.join(srv.workflowsDir, 'e2e-copy.json'))).toBe(true);
  await page.click('[data-testid=btn-library]');
  await page.click('[data-testid=library-list] li[data-name="e2e-copy"] [data-action=delete]');
  await page.click('.backdrop .dialog-footer button.primary');
  await page.waitForSelector('[data-testid=library-list] li[data-name="e2e-small-graph"]');
  expect(await page.$('[data-testid=library-list] li[data-name="e2e-copy"]')).toBeNull();
  expect(fs.existsSync(path.join(srv.workflowsDir, 'e2e-copy.json'))).toBe(false);
  await page.keyboard.press('Escape');

  // export downloads the workflow as JSON
  const download = page.waitForEvent('download');
  await page.click('[data-testid=btn-export]');
  const file = await (await download).path();
  const exported = JSON.parse(fs.readFileSync(file, 'utf8'));
  expect(exported.nodes.map((n: { type: string }) => n.type).sort()).toEqual(
    ['Int', 'IntMath', 'ShowText', 'ToString'].sort(),
  );
  expect((await download).suggestedFilename()).toBe('e2e-copy.json');

  // an unsaved change (the right arrow of IntMath.b) is kept across a reload and marked
  const mathId = await page.evaluate(() =>
    Number(window.dditEditor.graph._nodes.find((n) => n.type === 'IntMath')!.id),
  );
  const arrow = await widgetPoint(page, mathId, 'b', 0.95);
  await page.mouse.click(arrow[0], arrow[1]);
  await page.waitForSelector('[data-testid=wf-name][data-dirty=true]');
  await page.waitForTimeout(1200); // autosave tick
  await page.reload();
  await page.waitForFunction(() => !!window.dditEditor?.ready);
  const b = await page.evaluate(
    (id) => window.dditEditor.graph.getNodeById(id)!.widgets!.find((w) => w.name === 'b')!.value,
    mathId,
  );
  expect(b).toBe(8);
  expect(await page.getAttribute('[data-testid=wf-name]', 'data-dirty')).toBe('true');
  await shot(page, '11-restored-after-reload');
});

test('validation and execution errors are shown on the node and the input concerned', async () => {
  await page.evaluate(() =>
    window.dditEditor.loadWorkflow({
      nodes: [
        { id: 1, type: 'ShowText', pos: [60, 60] },
        { id: 2, type: 'IntMath', pos: [60, 260], widgets_values: { a: 1, b: 0, op: 'divide' } },
        { id: 3, type: 'ToString', pos: [380, 260], inputs: [{ name: 'value', type: 'INT,FLOAT', link: 1 }] },
        { id: 4, type: 'ShowText', pos: [680, 260], inputs: [{ name: 'text', type: 'STRING', link: 2 }] },
      ],
      links: [
        [1, 2, 0, 3, 0, 'INT'],
        [2, 3, 0, 4, 0, 'STRING'],
      ],
    }),
  );
  await page.click('[data-testid=btn-queue]');
  await waitFor(async () => (await live(1))?.error, 'validation error on node 1');
  const e1 = await live(1);
  expect(e1!.error!.inputs).toEqual(['text']);
  expect(e1!.error!.message).toMatch(/text/);
  await page.waitForSelector('.toast-error');
  await shot(page, '12-validation-error');

  // now only the division by zero remains: an execution error on IntMath's input b
  await page.evaluate(() => window.dditEditor.graph.remove(window.dditEditor.graph.getNodeById(1)!));
  await page.click('[data-testid=btn-queue]');
  await waitFor(async () => (await live(2))?.error, 'execution error on node 2');
  const e2 = await live(2);
  expect(e2!.error!.message).toMatch(/division by zero/);
  expect(e2!.error!.inputs).toEqual(['b']);
  await shot(page, '13-execution-error');
});

test('queue panel: cancel the running prompt, re-run it from history', async () => {
  await page.evaluate((wf) => window.dditEditor.loadWorkflow(wf), liveWorkflow(600));
  if (!(await page.$('[data-testid=queue-panel].open'))) await page.click('[data-testid=btn-panel]');
  const id = await page.evaluate(() => window.dditEditor.queue());
  expect(id).toBeTruthy();
  await page.waitForSelector(`[data-testid=queue-panel] li[data-state=running][data-prompt-id="${id}"]`);
  await shot(page, '14-queue-running');
  await page.click(`[data-testid=queue-panel] li[data-prompt-id="${id}"] [data-action=cancel]`);
  await page.waitForSelector(`[data-testid=queue-panel] li[data-state=interrupted][data-prompt-id="${id}"]`);
  await page.click(`[data-testid=queue-panel] li[data-prompt-id="${id}"] [data-action=re-run]`);
  await page.waitForSelector(
    `[data-testid=queue-panel] li[data-state=running]:not([data-prompt-id="${id}"])`,
  );
  await shot(page, '15-queue-rerun');
  await page.click('[data-testid=btn-interrupt]');
  await page.waitForSelector('[data-testid=queue-panel] li[data-state=running]', { state: 'detached' });
});

test('a PNG saved by the project opens its workflow when dropped; dropped on LoadImage it is uploaded', async () => {
  await page.evaluate(() =>
    window.dditEditor.loadWorkflow({
      nodes: [
        {
          id: 1,
          type: 'ShapesScene',
          pos: [40, 40],
          outputs: [
            { name: 'image', type: 'IMAGE', links: [1] },
            { name: 'scene', type: 'STRING', links: null },
            { name: 'caption', type: 'STRING', links: null },
          ],
          widgets_values: { seed: 11, kind: 'mix', caption: 'full' },
          properties: { control_after_generate: { seed: 'fixed' } },
        },
        {
          id: 2,
          type: 'SaveImage',
          pos: [420, 40],
          inputs: [{ name: 'images', type: 'IMAGE', link: 1 }],
          widgets_values: { filename_prefix: 'shapes' },
        },
      ],
      links: [[1, 1, 0, 2, 0, 'IMAGE']],
    }),
  );
  await page.keyboard.press('Control+Enter');
  await waitFor(async () => (await live(2))?.drawn.outputImages === 1, 'saved shapes image', 120_000);
  const saved = fs.readdirSync(srv.outputDir).find((f) => /^shapes_\d+_\.png$/.test(f))!;
  const png = fs.readFileSync(path.join(srv.outputDir, saved));

  await page.click('[data-testid=btn-new]');
  const box = (await page.locator('[data-testid=canvas]').boundingBox())!;
  await dropFile([box.x + box.width / 2, box.y + box.height / 2], saved, 'image/png', png);
  await waitFor(
    () =>
      page.evaluate(
        () => window.dditEditor.graph._nodes.map((n) => n.type).join() === 'ShapesScene,SaveImage',
      ),
    'workflow read from the PNG',
  );
  expect(await page.evaluate(() => window.dditEditor.toApiPrompt()['1'].inputs.seed)).toBe(11);
  await shot(page, '16-png-workflow');

  // a workflow JSON file dropped on the canvas opens too
  await dropFile(
    [box.x + box.width / 2, box.y + box.height / 2],
    'live.json',
    'application/json',
    Buffer.from(JSON.stringify(liveWorkflow())),
  );
  await waitFor(
    () => page.evaluate(() => window.dditEditor.graph._nodes.length === 4),
    'workflow read from a dropped JSON file',
  );

  await page.evaluate(() =>
    window.dditEditor.loadWorkflow({
      nodes: [
        { id: 1, type: 'LoadImage', pos: [60, 60], outputs: [{ name: 'image', type: 'IMAGE', links: [1] }] },
        { id: 2, type: 'PreviewImage', pos: [420, 60], inputs: [{ name: 'images', type: 'IMAGE', link: 1 }] },
      ],
      links: [[1, 1, 0, 2, 0, 'IMAGE']],
    }),
  );
  // The point is found and the file dropped in one page task, after a frame, so that no layout or view change can
  // come between them; what the drop landed on is returned for the failure message.
  const landed = await dropFile({ node: 1 }, 'dropped.png', 'image/png', png);
  expect(landed).toEqual({ element: 'CANVAS', node: 'LoadImage' });
  await waitFor(
    () => page.evaluate(() => window.dditEditor.graph.getNodeById(1)!.widgets![0].value === 'dropped.png'),
    'upload',
  );
  expect(fs.existsSync(path.join(srv.inputDir, 'dropped.png'))).toBe(true);
  await page.keyboard.press('Control+Enter');
  await waitFor(
    async () => (await live(2))?.drawn.outputImages === 1,
    'preview of the uploaded image',
    120_000,
  );
  await shot(page, '17-uploaded');
});

test('extensions: every listed script loads, and the registerExtension hooks fire', async () => {
  await page.waitForFunction(() => window.dditEditor.extensions.settled);
  const listed = await (await fetch(srv.url + '/extensions')).json();
  const loaded = await page.evaluate(() => window.dditEditor.extensions.scripts);
  expect(loaded.map((s) => s.url)).toEqual(listed);
  expect(loaded.every((s) => s.ok)).toBe(true);
  const calls = await page.evaluate(async () => {
    const log: string[] = [];
    const ed = window.dditEditor;
    ed.registerExtension({
      name: 'e2e.probe',
      nodeCreated: (n) => void log.push(`created ${n.type}`),
      onExecuted: (n, out) => void log.push(`executed ${n.type} ${JSON.stringify(out.text)}`),
      onMessage: (t) => void (t === 'execution_success' && log.push('success')),
    });
    // registered late, it is shown the nodes already on the canvas (the previous test's LoadImage)
    log.push('--');
    ed.loadWorkflow({
      nodes: [
        {
          id: 1,
          type: 'Int',
          pos: [0, 0],
          outputs: [{ name: 'value', type: 'INT', links: [1] }],
          widgets_values: { value: 5 },
        },
        {
          id: 2,
          type: 'ToString',
          pos: [300, 0],
          inputs: [{ name: 'value', type: 'INT,FLOAT', link: 1 }],
          outputs: [{ name: 'text', type: 'STRING', links: [2] }],
        },
        { id: 3, type: 'ShowText', pos: [600, 0], inputs: [{ name: 'text', type: 'STRING', link: 2 }] },
      ],
      links: [
        [1, 1, 0, 2, 0, 'INT'],
        [2, 2, 0, 3, 0, 'STRING'],
      ],
    });
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no execution_success; hooks saw ${log.join(' | ')}`)),
        60_000,
      );
      const off = ed.on('execution_success', () => {
        off();
        clearTimeout(timer);
        setTimeout(resolve, 50);
      });
    });
    if (!(await ed.queue())) throw new Error('the prompt was refused');
    await done;
    return log;
  });
  expect(calls.slice(0, calls.indexOf('--'))).toEqual(['created LoadImage', 'created PreviewImage']);
  expect(calls).toEqual(
    expect.arrayContaining([
      'created Int',
      'created ToString',
      'created ShowText',
      'executed ShowText ["5"]',
      'success',
    ]),
  );
});

test("the example pack's editor extension draws on its node after a run of its library workflow", async () => {
  await page.waitForFunction(() => window.dditEditor.extensions.settled);
  const names = await page.evaluate(() => window.dditEditor.extensions.extensions.map((e) => e.name));
  expect(names).toContain('imagefx.palette');
  // an API-format workflow from the library, laid out by the editor
  await page.click('[data-testid=btn-library]');
  await page.click('[data-testid=library-list] li[data-name="examples/imagefx-palette"] [data-action=open]');
  await waitFor(() => page.evaluate(() => window.dditEditor.graph._nodes.length === 5), 'imagefx workflow');
  await page.keyboard.press('Control+Enter');
  const palette = await waitFor(
    () =>
      page.evaluate(() => {
        const n = window.dditEditor.graph.getNodeById(5) as unknown as {
          imagefxPalette?: { colors: string[] };
        };
        return n?.imagefxPalette?.colors;
      }),
    'palette swatches from the extension',
    120_000,
  );
  expect(palette.length).toBe(6);
  await shot(page, '18-extension-palette');
});

test('a loop count runs the graph as one looped job (training) and is saved with the workflow', async () => {
  await page.evaluate(() =>
    window.dditEditor.loadWorkflow({
      nodes: [
        { id: 1, type: 'Counter', pos: [0, 0], outputs: [{ name: 'count', type: 'INT', links: [1] }] },
        {
          id: 2,
          type: 'ToString',
          pos: [300, 0],
          inputs: [{ name: 'value', type: 'INT,FLOAT', link: 1 }],
          outputs: [{ name: 'text', type: 'STRING', links: [2] }],
        },
        { id: 3, type: 'ShowText', pos: [600, 0], inputs: [{ name: 'text', type: 'STRING', link: 2 }] },
      ],
      links: [
        [1, 1, 0, 2, 0, 'INT'],
        [2, 2, 0, 3, 0, 'STRING'],
      ],
    }),
  );
  await page.fill('[data-testid=loop-count]', '5');
  await page.dispatchEvent('[data-testid=loop-count]', 'change');
  expect(await page.evaluate(() => window.dditEditor.serialize().extra?.loop_iterations)).toBe(5);
  await page.evaluate(() => {
    const seen: number[] = [];
    (window as unknown as { loops: number[] }).loops = seen;
    window.dditEditor.on('ddit.loop', (d) => void seen.push(Number(d.iteration)));
  });
  await page.click('[data-testid=btn-queue]');
  await waitFor(async () => (await live(3))?.drawn.outputText === '4', 'count after 5 iterations');
  expect(await page.evaluate(() => (window as unknown as { loops: number[] }).loops)).toEqual([
    1, 2, 3, 4, 5,
  ]);
  await page.fill('[data-testid=loop-count]', '1');
  await page.dispatchEvent('[data-testid=loop-count]', 'change');
});

test('every workflow shipped in workflows/ opens in the editor and queues the same graph', async () => {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const f of fs.readdirSync(d, { withFileTypes: true })) {
      if (f.isDirectory()) walk(path.join(d, f.name));
      else if (f.name.endsWith('.json')) files.push(path.join(d, f.name));
    }
  };
  walk(path.join(ROOT, 'workflows'));
  expect(files.length).toBeGreaterThan(0);
  const info = (await (await fetch(srv.url + '/object_info')).json()) as Record<string, ObjectInfo>;
  const specs = Object.fromEntries(Object.entries(info).map(([k, v]) => [k, interpretNodeDef(v)]));
  for (const file of files) {
    const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
    const rel = path.relative(ROOT, file);
    if (!isEditorWorkflow(doc) && !isApiPrompt(doc) && !isApiPrompt(doc?.prompt)) {
      // data kept next to the workflows (evaluation sets): refused with a clear message
      const refused = await page.evaluate((d) => {
        try {
          window.dditEditor.loadWorkflow(d);
          return null;
        } catch (err) {
          return (err as Error).message;
        }
      }, doc);
      expect({ rel, refused }).toEqual({ rel, refused: expect.stringMatching(/^not a workflow/) });
      continue;
    }
    const expected = isEditorWorkflow(doc)
      ? workflowToApiPrompt(doc, specs)
      : withDefaults((doc.prompt ?? doc) as ApiPrompt, specs);
    const got = await page.evaluate((d) => {
      window.dditEditor.loadWorkflow(d);
      return window.dditEditor.toApiPrompt();
    }, doc);
    expect({ file: path.relative(ROOT, file), prompt: got }).toEqual({
      file: path.relative(ROOT, file),
      prompt: expected,
    });
  }
});

test('the editor reconnects after a server restart and keeps working', async () => {
  await srv.restart();
  await page.waitForSelector('[data-testid=conn][data-state=open]', { timeout: 30_000 });
  await page.evaluate(() => {
    window.dditEditor.loadWorkflow({
      nodes: [
        {
          id: 1,
          type: 'Int',
          pos: [0, 0],
          outputs: [{ name: 'value', type: 'INT', links: [1] }],
          widgets_values: { value: 9 },
        },
        {
          id: 2,
          type: 'ToString',
          pos: [300, 0],
          inputs: [{ name: 'value', type: 'INT,FLOAT', link: 1 }],
          outputs: [{ name: 'text', type: 'STRING', links: [2] }],
        },
        { id: 3, type: 'ShowText', pos: [600, 0], inputs: [{ name: 'text', type: 'STRING', link: 2 }] },
      ],
      links: [
        [1, 1, 0, 2, 0, 'INT'],
        [2, 2, 0, 3, 0, 'STRING'],
      ],
    });
    return window.dditEditor.queue();
  });
  await waitFor(async () => (await live(3))?.drawn.outputText === '9', 'run after reconnect');
  await shot(page, '19-reconnected');
  expect(pageErrors).toEqual([]);
});

test('a server that needs a token: the editor opened with ?token= works and shows it in Settings', async () => {
  const token = 'e2e-secret-token';
  const guarded = await startEditorServer({ token, copyWorkflows: false });
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  try {
    const p = await ctx.newPage();
    const errors: string[] = [];
    p.on('pageerror', (e) => errors.push(e.message));
    await openEditor(p, `${guarded.url}/?token=${token}`);
    await p.waitForSelector('[data-testid=conn][data-state=open]');
    expect(await p.evaluate(() => window.dditEditor.nodeSpecs().length)).toBeGreaterThan(10);
    await p.click('[data-testid=btn-settings]');
    expect(await p.inputValue('#settings-dialog input[name=token]')).toBe(token);
    await shot(p, '20-settings-token');
    expect(errors).toEqual([]);
    const refused = await fetch(`${guarded.url}/object_info`);
    expect(refused.status).toBe(401);
  } finally {
    await ctx.close();
    await guarded.close();
  }
});
