/**
 * Browser-test harness: the real server on a free port (own temp folders, the editor test node pack),
 * the editor bundle built when stale, and Debian's Chromium driven by playwright-core. Nothing is
 * skipped: without Chromium the tests fail and say how to install it.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { Logger } from '../../server/engine';
import { startServer, type DditServer } from '../../server/api/server';

export const ROOT = path.resolve(__dirname, '..', '..');
export const EDITOR_PACK = path.join(ROOT, 'test', 'fixtures', 'nodes', 'editor-test', 'index.ts');
export const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'e2e');
export const CHROMIUM = process.env.DDIT_CHROMIUM || '/usr/bin/chromium';

const { buildWeb } = require('../../scripts/build-web.js') as {
  buildWeb(o: { ifStale?: boolean; quiet?: boolean }): Promise<{ built: boolean; ms: number }>;
};

export function requireChromium(): void {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(
      `The editor's browser tests need Chromium at ${CHROMIUM}, which is missing. Install it with ` +
        '`apt-get install -y chromium` (.ci/run does this) or point DDIT_CHROMIUM at a Chromium binary.',
    );
  }
}

export async function launchBrowser(): Promise<Browser> {
  requireChromium();
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
    ],
  });
}

export interface EditorServer {
  server: DditServer;
  url: string;
  dir: string;
  inputDir: string;
  outputDir: string;
  workflowsDir: string;
  logs: string[];
  restart(): Promise<void>;
  close(): Promise<void>;
}

function memoryLog(lines: string[]): Logger {
  const push = (level: string) => (m: string) => void lines.push(`${level}: ${m}`);
  return { info: push('info'), warn: push('warn'), error: push('error'), debug: () => {} };
}

/**
 * Builds the editor if its sources changed, then starts the server with the editor test pack and a copy
 * of the shipped workflows/ (so saving in a test never touches the repository).
 */
export async function startEditorServer(
  opts: {
    token?: string;
    port?: number;
    copyWorkflows?: boolean;
    /** Models folder (default: the repository's models/, with the bundled model). */
    modelsDir?: string;
    startRuntime?: boolean;
    workerEnv?: Record<string, string>;
  } = {},
): Promise<EditorServer> {
  await buildWeb({ ifStale: true, quiet: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-e2e-'));
  const inputDir = path.join(dir, 'input');
  const outputDir = path.join(dir, 'output');
  const workflowsDir = path.join(dir, 'workflows');
  fs.mkdirSync(inputDir, { recursive: true });
  if (opts.copyWorkflows !== false)
    fs.cpSync(path.join(ROOT, 'workflows'), workflowsDir, { recursive: true });
  else fs.mkdirSync(workflowsDir, { recursive: true });
  const logs: string[] = [];
  let port = opts.port ?? 0;
  const start = async () =>
    startServer({
      host: '127.0.0.1',
      port,
      token: opts.token ?? null,
      dataDir: path.join(dir, 'data'),
      outputDir,
      inputDir,
      workflowsDir,
      modelsDir: opts.modelsDir,
      extraNodePacks: [EDITOR_PACK],
      startRuntime: opts.startRuntime,
      workerEnv: opts.workerEnv ?? {},
      interruptGraceMs: 2000,
      log: memoryLog(logs),
    });
  const handle: EditorServer = {
    server: await start(),
    url: '',
    dir,
    inputDir,
    outputDir,
    workflowsDir,
    logs,
    async restart() {
      await handle.server.close();
      handle.server = await start();
    },
    async close() {
      await handle.server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  port = handle.server.port;
  handle.url = handle.server.url;
  return handle;
}

/** Opens the editor and waits until it is usable; returns navigation-start → ready in ms. */
export async function openEditor(page: Page, url: string): Promise<number> {
  await page.goto(url);
  await page.waitForFunction(() => !!window.dditEditor?.ready, null, { timeout: 30000 });
  return page.evaluate(() => window.dditEditor.ready!.ms);
}

export async function shot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** Where a node's input or output socket is on the screen (for dragging links with the mouse). */
export async function slotPoint(
  page: Page,
  nodeId: number,
  kind: 'input' | 'output',
  slot: number | string,
): Promise<[number, number]> {
  return page.evaluate(
    ([id, k, s]) => {
      const ed = window.dditEditor;
      const node = ed.graph.getNodeById(id);
      if (!node) throw new Error(`no node ${id}`);
      const list = k === 'input' ? node.inputs : node.outputs;
      const index = typeof s === 'number' ? s : list.findIndex((x) => x.name === s);
      if (index < 0) throw new Error(`node ${id} has no ${k} ${s}`);
      const p = k === 'input' ? node.getInputPos(index) : node.getOutputPos(index);
      const c = ed.canvas.ds.convertOffsetToCanvas([p[0], p[1]]);
      const r = ed.canvas.canvas.getBoundingClientRect();
      return [r.left + c[0], r.top + c[1]] as [number, number];
    },
    [nodeId, kind, slot] as const,
  );
}

/** Screen point of a node's widget (its middle, or `fx` of its width). */
export async function widgetPoint(
  page: Page,
  nodeId: number,
  name: string,
  fx = 0.5,
): Promise<[number, number]> {
  return page.evaluate(
    ([id, n, f]) => {
      const ed = window.dditEditor;
      const node = ed.graph.getNodeById(id);
      const w = node?.widgets?.find((x) => x.name === n);
      if (!node || !w) throw new Error(`node ${id} has no widget ${n}`);
      const y = node.pos[1] + (w.y ?? 0) + 10;
      const x = node.pos[0] + node.size[0] * f;
      const c = ed.canvas.ds.convertOffsetToCanvas([x, y]);
      const r = ed.canvas.canvas.getBoundingClientRect();
      return [r.left + c[0], r.top + c[1]] as [number, number];
    },
    [nodeId, name, fx] as const,
  );
}

/** Screen point of a position in graph coordinates. */
export async function graphPoint(page: Page, x: number, y: number): Promise<[number, number]> {
  return page.evaluate(
    ([gx, gy]) => {
      const ed = window.dditEditor;
      const c = ed.canvas.ds.convertOffsetToCanvas([gx, gy]);
      const r = ed.canvas.canvas.getBoundingClientRect();
      return [r.left + c[0], r.top + c[1]] as [number, number];
    },
    [x, y] as const,
  );
}

export async function drag(page: Page, from: [number, number], to: [number, number]): Promise<void> {
  await page.mouse.move(from[0], from[1]);
  await page.mouse.down();
  await page.mouse.move((from[0] + to[0]) / 2, (from[1] + to[1]) / 2, { steps: 5 });
  await page.mouse.move(to[0], to[1], { steps: 5 });
  await page.mouse.up();
}
