import * as path from 'path';
import Module = require('module');

/** The module packs import as `ddit-studio/plugin-api`. */
export const PLUGIN_API_FILE = path.join(__dirname, 'api.ts');

/** Import names that mean "the host's plugin API", whatever node_modules a pack sits in. */
export const PLUGIN_API_SPECIFIERS = ['ddit-studio/plugin-api', 'ddit-studio/plugin-api.js'];

type Resolve = (request: string, parent: unknown, isMain: boolean, options?: unknown) => string;
const mod = Module as unknown as { _resolveFilename: Resolve };
let installed = false;

/**
 * Makes `require('ddit-studio/plugin-api')` resolve to this host's api module from any file, as a peer
 * dependency would: a pack installed under node_modules (or linked from anywhere) then shares the host's
 * engine and its single tfjs instance instead of finding a second copy or nothing. Idempotent. (Jest has its
 * own resolver: jest.config.js maps the same name.)
 */
export function installPluginApiAlias(): void {
  if (installed) return;
  installed = true;
  const original = mod._resolveFilename;
  mod._resolveFilename = function (request, parent, isMain, options) {
    if (PLUGIN_API_SPECIFIERS.includes(request)) return PLUGIN_API_FILE;
    return original.call(this, request, parent, isMain, options);
  };
}
