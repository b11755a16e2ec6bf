import * as fs from 'fs';
import * as path from 'path';
import * as semver from 'semver';
import { SOCKET_TYPE_NAME, type SocketTypeInfo } from './api';
import { NAMESPACE, type PluginEntry } from './config';

/**
 * A pack's `ddit` key in its package.json:
 *
 *   "ddit": {
 *     "engine": "^0.1.0",                  // ddit-studio versions the pack works with (semver range, required)
 *     "nodes": ["dist/index.js"],          // modules exporting `nodes` (default: the package's "main")
 *     "web": "web",                        // folder served at /extensions/<pack>/ (default "web")
 *     "extensions": ["web/palette.js"],    // editor scripts to load (default: every .js file directly in web/)
 *     "socketTypes": { "PALETTE": { "color": "#d9a441", "description": "…" } },
 *     "name": "imagefx"                    // namespace (default: derived from the package name)
 *   }
 */
export interface DditManifest {
  engine: string;
  nodes: string[];
  web: string;
  extensions: string[];
  socketTypes: Record<string, SocketTypeInfo>;
  name?: string;
}

export interface PackManifest {
  /** The pack's folder, symlinks resolved. */
  dir: string;
  packageName: string;
  version: string;
  description?: string;
  ddit: DditManifest;
  /** Harmless oddities (unknown keys): reported, not fatal. */
  warnings: string[];
}

export class PackError extends Error {}

const KNOWN_KEYS = ['engine', 'nodes', 'web', 'extensions', 'socketTypes', 'name'];
const NPM_NAME = /^(@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/;
const NAME_PREFIXES = ['ddit-pack-', 'ddit-nodes-', 'ddit-plugin-', 'ddit-'];

/**
 * A pack's namespace from its package name: drop the npm scope, then one leading `ddit-pack-`, `ddit-nodes-`,
 * `ddit-plugin-` or `ddit-`, then turn every run of other characters than letters, digits and '_' into '_'.
 * `ddit-pack-imagefx` → `imagefx`, `@acme/ddit-nodes-face-fix` → `face_fix`, `9lives` → `_9lives`.
 */
export function derivePackName(packageName: string): string {
  let n = packageName.replace(/^@[^/]+\//, '');
  const prefix = NAME_PREFIXES.find((p) => n.startsWith(p) && n.length > p.length);
  if (prefix) n = n.slice(prefix.length);
  n = n.replace(/[^A-Za-z0-9_]+/g, '_').replace(/^_+|_+$/g, '');
  if (!n) throw new PackError(`cannot derive a namespace from the package name '${packageName}'`);
  return /^[0-9]/.test(n) ? `_${n}` : n;
}

/** Every node_modules folder Node would search from `root` upwards. */
function nodeModulesDirs(root: string): string[] {
  const dirs: string[] = [];
  for (let d = path.resolve(root); ; d = path.dirname(d)) {
    if (path.basename(d) !== 'node_modules') dirs.push(path.join(d, 'node_modules'));
    if (path.dirname(d) === d) return dirs;
  }
}

/** Where an entry's pack lives. Reads the filesystem directly, so packages whose "exports" hide package.json work. */
export function locatePack(entry: PluginEntry, configDir: string, root: string): string {
  if (entry.path !== undefined) {
    const dir = path.resolve(configDir, entry.path);
    if (!fs.existsSync(dir)) throw new PackError(`folder not found: ${dir}`);
    if (!fs.statSync(dir).isDirectory()) throw new PackError(`not a folder: ${dir}`);
    return fs.realpathSync(dir);
  }
  const name = entry.package ?? '';
  if (!NPM_NAME.test(name)) throw new PackError(`'${name}' is not an npm package name`);
  for (const nm of nodeModulesDirs(root)) {
    const dir = path.join(nm, name);
    if (fs.existsSync(path.join(dir, 'package.json'))) return fs.realpathSync(dir);
  }
  throw new PackError(`package '${name}' is not installed (ddit plugins add ${name} installs it with npm)`);
}

function stringArray(v: unknown, key: string): string[] {
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string' || !s)) {
    throw new PackError(`"ddit.${key}" must be an array of file paths`);
  }
  return v as string[];
}

/** True when `child` is `parent` or inside it (both absolute). */
export function isInside(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** Reads and checks a pack's package.json. Every problem is a PackError whose message says what to fix. */
export function readManifest(dir: string): PackManifest {
  const file = path.join(dir, 'package.json');
  if (!fs.existsSync(file)) throw new PackError(`no package.json in ${dir}`);
  let pkg: Record<string, unknown>;
  try {
    pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new PackError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  const packageName = typeof pkg.name === 'string' && pkg.name ? pkg.name : path.basename(dir);
  const raw = pkg.ddit as Record<string, unknown> | undefined;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new PackError(`${file} has no "ddit" object: it is not a ddit node pack`);
  }
  const warnings = Object.keys(raw)
    .filter((k) => !KNOWN_KEYS.includes(k))
    .map((k) => `unknown key "ddit.${k}" ignored`);

  if (typeof raw.engine !== 'string' || !raw.engine.trim()) {
    throw new PackError(
      `"ddit.engine" is missing: declare the ddit-studio versions the pack supports, e.g. "^0.1.0"`,
    );
  }
  if (!semver.validRange(raw.engine))
    throw new PackError(`"ddit.engine" is not a semver range: "${raw.engine}"`);

  let nodes: string[];
  if (raw.nodes !== undefined) nodes = stringArray(raw.nodes, 'nodes');
  else if (typeof pkg.main === 'string' && pkg.main) nodes = [pkg.main];
  else throw new PackError(`"ddit.nodes" is missing: list the modules that export the pack's nodes`);
  if (nodes.length === 0) throw new PackError(`"ddit.nodes" is empty`);

  const web = raw.web === undefined ? 'web' : raw.web;
  if (typeof web !== 'string' || !web) throw new PackError(`"ddit.web" must be a folder path`);
  const webDir = path.resolve(dir, web);
  if (!isInside(dir, webDir)) throw new PackError(`"ddit.web" must be inside the pack`);
  let extensions: string[];
  if (raw.extensions !== undefined) {
    extensions = stringArray(raw.extensions, 'extensions');
    for (const e of extensions) {
      const abs = path.resolve(dir, e);
      if (!isInside(webDir, abs)) throw new PackError(`extension ${e} is not inside the web folder "${web}"`);
      if (!/\.m?js$/.test(e)) throw new PackError(`extension ${e} is not a .js file`);
      if (!fs.existsSync(abs)) throw new PackError(`extension ${e} not found`);
    }
  } else {
    extensions = fs.existsSync(webDir)
      ? fs
          .readdirSync(webDir)
          .filter((f) => /\.m?js$/.test(f))
          .sort()
          .map((f) => path.relative(dir, path.join(webDir, f)))
      : [];
  }

  const socketTypes: Record<string, SocketTypeInfo> = {};
  if (raw.socketTypes !== undefined) {
    if (!raw.socketTypes || typeof raw.socketTypes !== 'object' || Array.isArray(raw.socketTypes)) {
      throw new PackError(`"ddit.socketTypes" must be an object: { "MY_TYPE": { "color": "#…" } }`);
    }
    for (const [name, info] of Object.entries(raw.socketTypes as Record<string, unknown>)) {
      if (!SOCKET_TYPE_NAME.test(name)) {
        throw new PackError(`socket type "${name}" must be upper case: letters, digits and '_'`);
      }
      const i = (info ?? {}) as Record<string, unknown>;
      if (typeof i !== 'object' || Array.isArray(i))
        throw new PackError(`socket type "${name}" must be an object`);
      for (const k of ['color', 'description']) {
        if (i[k] !== undefined && typeof i[k] !== 'string') {
          throw new PackError(`socket type "${name}": "${k}" must be a string`);
        }
      }
      socketTypes[name] = {
        color: i.color as string | undefined,
        description: i.description as string | undefined,
      };
    }
  }

  if (raw.name !== undefined && (typeof raw.name !== 'string' || !NAMESPACE.test(raw.name))) {
    throw new PackError(`"ddit.name" must be an identifier (letters, digits, _)`);
  }

  return {
    dir,
    packageName,
    version: typeof pkg.version === 'string' ? pkg.version : '0.0.0',
    description: typeof pkg.description === 'string' ? pkg.description : undefined,
    ddit: {
      engine: raw.engine,
      nodes,
      web,
      extensions,
      socketTypes,
      name: raw.name as string | undefined,
    },
    warnings,
  };
}

/** Refuses a pack whose engine range does not include this host's version. */
export function checkEngine(manifest: PackManifest, engineVersion: string): void {
  if (!semver.satisfies(engineVersion, manifest.ddit.engine, { includePrerelease: true })) {
    throw new PackError(
      `requires ddit-studio ${manifest.ddit.engine} but this is ${engineVersion}; ` +
        `update the pack or ddit-studio`,
    );
  }
}
