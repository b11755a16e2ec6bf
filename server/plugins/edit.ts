import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as semver from 'semver';
import { readPluginsConfig, writePluginsConfig, type PluginEntry, type PluginsConfig } from './config';
import { PackError, derivePackName, locatePack, readManifest } from './manifest';
import { ENGINE_VERSION } from './version';

/** Edits of plugins.json, shared by `ddit plugins` and any host that manages packs. */

export interface EntryInfo {
  index: number;
  entry: PluginEntry;
  /** The namespace the entry loads under, when its pack can be read. */
  name?: string;
  dir?: string;
}

/** Each entry with the namespace and folder it resolves to (undefined where the pack cannot be read). */
export function describeEntries(configFile: string, config = readPluginsConfig(configFile)): EntryInfo[] {
  const configDir = path.dirname(path.resolve(configFile));
  return config.plugins.map((entry, index) => {
    try {
      const manifest = readManifest(locatePack(entry, configDir, configDir));
      return {
        index,
        entry,
        name: entry.name ?? manifest.ddit.name ?? derivePackName(manifest.packageName),
        dir: manifest.dir,
      };
    } catch {
      return { index, entry, name: entry.name };
    }
  });
}

/**
 * The entry an id names: a 1-based position, a namespace, a package name, or a path as written in plugins.json
 * (or the same folder written another way). Unknown or ambiguous ids are errors listing what exists.
 */
export function findEntry(configFile: string, id: string, config = readPluginsConfig(configFile)): EntryInfo {
  const infos = describeEntries(configFile, config);
  const configDir = path.dirname(path.resolve(configFile));
  const asDir = fs.existsSync(path.resolve(id)) ? fs.realpathSync(path.resolve(id)) : undefined;
  let matches: EntryInfo[];
  if (/^[0-9]+$/.test(id)) {
    matches = infos.filter((i) => i.index === Number(id) - 1);
  } else {
    matches = infos.filter(
      (i) =>
        i.name === id ||
        i.entry.package === id ||
        i.entry.path === id ||
        (i.entry.path !== undefined &&
          path.resolve(configDir, i.entry.path) === path.resolve(configDir, id)) ||
        (asDir !== undefined && i.dir === asDir),
    );
  }
  const listing = infos.map((i) => `${i.index + 1}: ${i.name ?? '?'} (${i.entry.package ?? i.entry.path})`);
  if (matches.length === 0) {
    throw new PackError(
      `no plugin '${id}' in ${configFile}${listing.length ? `; entries: ${listing.join(', ')}` : ''}`,
    );
  }
  if (matches.length > 1)
    throw new PackError(`'${id}' names several plugins; use the position: ${listing.join(', ')}`);
  return matches[0];
}

export function setPluginEnabled(configFile: string, id: string, enabled: boolean): EntryInfo {
  const config = readPluginsConfig(configFile);
  const info = findEntry(configFile, id, config);
  config.plugins[info.index] = { ...info.entry, enabled };
  writePluginsConfig(configFile, config);
  return { ...info, entry: config.plugins[info.index] };
}

export function removePlugin(configFile: string, id: string): EntryInfo {
  const config = readPluginsConfig(configFile);
  const info = findEntry(configFile, id, config);
  config.plugins.splice(info.index, 1);
  writePluginsConfig(configFile, config);
  return info;
}

export interface AddOptions {
  /** Namespace override written as the entry's "name". */
  name?: string;
  enabled?: boolean;
  /** For npm names: skip `npm install` (the package is already installed). */
  install?: boolean;
  settings?: Record<string, unknown>;
  /** Runs npm; replaceable so that hosts can report progress their own way. */
  npmInstall?: (spec: string, cwd: string) => void;
}

export interface AddResult {
  entry: PluginEntry;
  name: string;
  version: string;
  /** Non-fatal problems, e.g. an engine range this host does not satisfy (the pack will be refused at load). */
  warnings: string[];
}

function runNpmInstall(spec: string, cwd: string): void {
  const r = spawnSync('npm', ['install', '--save', spec], {
    cwd,
    stdio: 'inherit',
    shell: process.platform === 'win32',
  });
  if (r.error) throw new PackError(`could not run npm: ${r.error.message}`);
  if (r.status !== 0) throw new PackError(`npm install ${spec} failed (exit ${r.status})`);
}

/** The package name in an npm spec: `name`, `name@range`, `@scope/name@tag`. Other specs (URLs, tarballs) have none. */
export function packageNameOf(spec: string): string | undefined {
  const m = /^((?:@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*)(?:@.*)?$/.exec(spec);
  return m?.[1];
}

function looksLikePath(spec: string): boolean {
  return /^(\.{1,2}([\\/]|$)|[\\/~]|[A-Za-z]:[\\/])/.test(spec);
}

/**
 * Adds a pack to plugins.json: a folder (linked where it is, written relative to plugins.json when inside its
 * folder) or an npm package (installed with `npm install` next to plugins.json unless `install: false`).
 * Refuses what is not a ddit pack, a pack already listed, and a namespace already taken (pass `name`).
 */
export function addPlugin(configFile: string, spec: string, opts: AddOptions = {}): AddResult {
  const config: PluginsConfig = readPluginsConfig(configFile);
  const configDir = path.dirname(path.resolve(configFile));
  let entry: PluginEntry;
  if (fs.existsSync(spec) && fs.statSync(spec).isDirectory()) {
    const abs = fs.realpathSync(path.resolve(spec));
    const rel = path.relative(fs.realpathSync(configDir), abs);
    const inside = rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
    entry = { path: inside ? rel.split(path.sep).join('/') : abs };
  } else if (looksLikePath(spec)) {
    throw new PackError(`folder not found: ${path.resolve(spec)}`);
  } else {
    const name = packageNameOf(spec);
    if (!name) throw new PackError(`'${spec}' is neither a folder nor an npm package name`);
    if (opts.install !== false) (opts.npmInstall ?? runNpmInstall)(spec, configDir);
    entry = { package: name };
  }
  if (opts.name !== undefined) entry.name = opts.name;
  entry.enabled = opts.enabled ?? true;
  if (opts.settings) entry.settings = opts.settings;

  const manifest = readManifest(locatePack(entry, configDir, configDir));
  const name = entry.name ?? manifest.ddit.name ?? derivePackName(manifest.packageName);
  for (const other of describeEntries(configFile, config)) {
    if (other.dir === manifest.dir) {
      throw new PackError(`${manifest.packageName} is already listed (entry ${other.index + 1})`);
    }
    if (other.name === name) {
      throw new PackError(
        `namespace '${name}' is already used by entry ${other.index + 1} ` +
          `(${other.entry.package ?? other.entry.path}); choose another with --name`,
      );
    }
  }
  const warnings: string[] = [];
  if (!semver.satisfies(ENGINE_VERSION, manifest.ddit.engine, { includePrerelease: true })) {
    warnings.push(
      `${manifest.packageName} requires ddit-studio ${manifest.ddit.engine} but this is ${ENGINE_VERSION}: ` +
        `it will be refused at load`,
    );
  }
  config.plugins.push(entry);
  writePluginsConfig(configFile, config);
  return { entry, name, version: manifest.version, warnings };
}
