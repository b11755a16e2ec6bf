import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Logger } from '../../../server/engine';

/** A fresh temporary folder for one test's packs and plugins.json. */
export function tempDir(prefix = 'ddit-plugins-'): string {
  return fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
}

/** Writes a pack: package.json (name, version and the `ddit` key) plus the given files. Returns its folder. */
export function writePack(
  dir: string,
  pkg: { name: string; version?: string; ddit?: unknown; [k: string]: unknown },
  files: Record<string, string>,
): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ version: '1.0.0', ...pkg }, null, 2));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

/** A CommonJS node module defining one node `type` that upper-cases STRING input `text` (plain JS, as npm ships). */
export function shoutModule(type = 'Shout', suffix = '!'): string {
  return `
const { defineNode } = require('ddit-studio/plugin-api');
exports.nodes = [
  defineNode({
    type: ${JSON.stringify(type)},
    category: 'test/text',
    description: 'Upper-cases text',
    inputs: { text: { type: 'STRING', default: 'hi' } },
    outputs: { text: { type: 'STRING' } },
    run: ({ text }) => ({ text: text.toUpperCase() + ${JSON.stringify(suffix)} }),
  }),
];
`;
}

export function writeConfig(dir: string, plugins: unknown[]): string {
  const file = path.join(dir, 'plugins.json');
  fs.writeFileSync(file, JSON.stringify({ plugins }, null, 2));
  return file;
}

/** A logger that keeps what it is told, to check that failures reach the log. */
export function recordingLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
    debug: () => {},
  };
}
