import * as fs from 'fs';
import * as path from 'path';
import { PROJECT_ROOT } from './version';

/**
 * plugins.json: the packs a host loads, in order.
 *
 *   { "plugins": [
 *       { "path": "plugins/imagefx", "enabled": true },
 *       { "package": "ddit-pack-upscale", "enabled": false, "name": "upscale2", "settings": { "tile": 256 } } ] }
 *
 * `path` (a folder, relative to this file) or `package` (an npm package installed under the project's
 * node_modules) says where the pack is; exactly one of them. `enabled` defaults to true. `name` overrides the
 * pack's namespace (to load two packs that derive the same one). `settings` is handed to the pack.
 */
export interface PluginEntry {
  path?: string;
  package?: string;
  enabled?: boolean;
  name?: string;
  settings?: Record<string, unknown>;
}

export interface PluginsConfig {
  plugins: PluginEntry[];
}

export class PluginConfigError extends Error {}

/** Namespaces are identifiers so that `<pack>.<Node>` is a valid node type name. */
export const NAMESPACE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The plugins.json a host reads: DDIT_PLUGINS when set (a file path), else the one at the project root. */
export function defaultConfigPath(root = PROJECT_ROOT): string {
  const env = process.env.DDIT_PLUGINS;
  return env && !isOff(env) ? path.resolve(env) : path.join(root, 'plugins.json');
}

/** DDIT_PLUGINS=off (or 0, none, false) turns community packs off for a host. */
export function pluginsDisabledByEnv(): boolean {
  const env = process.env.DDIT_PLUGINS;
  return env !== undefined && isOff(env);
}

function isOff(v: string): boolean {
  return ['off', '0', 'none', 'false'].includes(v.trim().toLowerCase());
}

/** Problems with one entry, as sentences; empty when the entry is well formed. */
export function entryProblems(entry: unknown): string[] {
  if (!entry || typeof entry !== 'object' || Array.isArray(entry)) return ['an entry must be an object'];
  const e = entry as Record<string, unknown>;
  const problems: string[] = [];
  const hasPath = e.path !== undefined;
  const hasPackage = e.package !== undefined;
  if (hasPath === hasPackage)
    problems.push('give exactly one of "path" (a folder) or "package" (an npm name)');
  if (hasPath && (typeof e.path !== 'string' || !e.path)) problems.push('"path" must be a non-empty string');
  if (hasPackage && (typeof e.package !== 'string' || !e.package)) {
    problems.push('"package" must be a non-empty string');
  }
  if (e.enabled !== undefined && typeof e.enabled !== 'boolean')
    problems.push('"enabled" must be true or false');
  if (e.name !== undefined && (typeof e.name !== 'string' || !NAMESPACE.test(e.name))) {
    problems.push('"name" must be an identifier (letters, digits, _; not starting with a digit)');
  }
  if (
    e.settings !== undefined &&
    (!e.settings || typeof e.settings !== 'object' || Array.isArray(e.settings))
  ) {
    problems.push('"settings" must be an object');
  }
  for (const k of Object.keys(e)) {
    if (!['path', 'package', 'enabled', 'name', 'settings'].includes(k)) problems.push(`unknown key "${k}"`);
  }
  return problems;
}

/**
 * Reads plugins.json. A missing file is an empty list (a fresh checkout without packs); a file that is not
 * JSON or has no "plugins" array is an error naming the file. Entries are returned as written: each is
 * checked when it is loaded, so one bad entry does not hide the others.
 */
export function readPluginsConfig(file: string): PluginsConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { plugins: [] };
    throw new PluginConfigError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new PluginConfigError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  const plugins = (doc as { plugins?: unknown } | null)?.plugins;
  if (!Array.isArray(plugins)) throw new PluginConfigError(`${file}: expected {"plugins": [ … ]}`);
  return { ...(doc as object), plugins: plugins as PluginEntry[] };
}

/** Writes plugins.json atomically, formatted the way the repository's formatter leaves it. */
export function writePluginsConfig(file: string, config: PluginsConfig): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(config, null, 2) + '\n');
  fs.renameSync(tmp, file);
}

/** A short human name for where an entry points: the package name or the folder as written. */
export function entryLocation(entry: PluginEntry): string {
  return entry.package ?? entry.path ?? '?';
}
