import * as path from 'path';
import type { NodeRegistry } from '../engine/registry';
import type { AnyNodeDefinition, InputSpec, Logger, OutputSpec } from '../engine/types';
import { WIDGET_TYPES } from '../engine/types';
import { BUILTIN_SOCKET_TYPES, type PackContext, type SocketTypeInfo } from './api';
import { installPluginApiAlias } from './alias';
import {
  defaultConfigPath,
  entryLocation,
  entryProblems,
  pluginsDisabledByEnv,
  readPluginsConfig,
  type PluginEntry,
  type PluginsConfig,
} from './config';
import {
  PackError,
  checkEngine,
  derivePackName,
  locatePack,
  readManifest,
  type PackManifest,
} from './manifest';
import { ENGINE_VERSION, PROJECT_ROOT } from './version';

export type PluginStatus = 'loaded' | 'failed' | 'disabled';

/** What happened to one plugins.json entry. JSON-safe: GET /plugins can send it as it is (see publicReport). */
export interface PluginReport {
  /** The namespace its node types live under (`<name>.<Node>`); a best guess when the pack could not be read. */
  name: string;
  /** The npm package name from the pack's package.json. */
  package?: string;
  version?: string;
  description?: string;
  /** 'folder' (a path entry), 'npm' (a package entry), 'config' (plugins.json itself could not be read). */
  source: 'folder' | 'npm' | 'config';
  /** The entry's path or package as written in plugins.json. */
  location: string;
  enabled: boolean;
  status: PluginStatus;
  /** Why the pack did not load. */
  error?: string;
  /** Problems that did not stop it (unknown keys, socket types no one declares…). */
  warnings: string[];
  /** The declared `ddit.engine` range. */
  engine?: string;
  /** Registered node types, namespaced. */
  nodes: string[];
  /** URLs of the editor scripts to load, under /extensions/<name>/. */
  extensions: string[];
  /** Socket types this pack declared and owns. */
  socketTypes: Record<string, SocketTypeInfo>;
  /** Milliseconds spent importing and registering. */
  loadMs?: number;
  /** The pack's folder and its served web folder (absolute; host-side only). */
  dir?: string;
  webDir?: string;
}

export interface LoadPluginsOptions {
  /**
   * Where `package` entries are looked up (node_modules from here upwards). Default: the folder of the
   * plugins.json file, else the project root.
   */
  root?: string;
  /**
   * plugins.json path, or the parsed document (its `path` entries are then relative to root).
   * Default: $DDIT_PLUGINS, else <root>/plugins.json, else the project's plugins.json.
   */
  config?: string | PluginsConfig;
  /** Default: warnings and failures to stderr, nothing else. */
  log?: Logger;
}

/** Without a logger, problems still reach stderr (and stdout stays clean for `ddit run --json`). */
const stderrLog: Logger = {
  info: () => {},
  debug: () => {},
  warn: (m) => console.error(m),
  error: (m) => console.error(m),
};

/** Registry source for a pack's nodes: unregisterSource(pluginSource(name)) removes the pack. */
export function pluginSource(name: string): string {
  return `plugin:${name}`;
}

function prefixedLog(log: Logger, name: string): Logger {
  return {
    info: (m) => log.info(`[${name}] ${m}`),
    warn: (m) => log.warn(`[${name}] ${m}`),
    error: (m) => log.error(`[${name}] ${m}`),
    debug: (m) => log.debug(`[${name}] ${m}`),
  };
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    // Syntax errors carry the file and line in their stack's first line(s) rather than in the message.
    const where = err instanceof SyntaxError ? err.stack?.split('\n')[0] : undefined;
    return where && !where.endsWith(err.message) ? `${where}: ${err.message}` : err.message || err.name;
  }
  return String(err);
}

/** Pulls the node definitions out of a pack module, whatever module style produced it. */
function nodesOf(mod: unknown, file: string, pack: PackContext): AnyNodeDefinition[] {
  const m = (mod ?? {}) as { nodes?: unknown; default?: unknown };
  const dflt = m.default as { nodes?: unknown } | unknown[] | undefined;
  let nodes: unknown = Array.isArray(mod)
    ? mod
    : (m.nodes ?? (Array.isArray(dflt) ? dflt : (dflt as { nodes?: unknown } | undefined)?.nodes));
  if (typeof nodes === 'function') nodes = (nodes as (p: PackContext) => unknown)(pack);
  if (!Array.isArray(nodes)) {
    throw new PackError(
      `${file} does not export "nodes" (an array of node definitions, or a function returning one)`,
    );
  }
  return nodes as AnyNodeDefinition[];
}

/** The definition as registered: type `<pack>.<Node>` (unless already prefixed), short display name kept. */
function namespaced(def: AnyNodeDefinition, ns: string, file: string): AnyNodeDefinition {
  if (!def || typeof def !== 'object') throw new PackError(`${file}: a node definition must be an object`);
  if (typeof def.type !== 'string' || !def.type)
    throw new PackError(`${file}: a node definition has no type`);
  const short = def.type.startsWith(`${ns}.`) ? def.type.slice(ns.length + 1) : def.type;
  return {
    ...def,
    type: `${ns}.${short}`,
    displayName: def.displayName ?? short,
    category: typeof def.category === 'string' && def.category ? def.category : ns,
  };
}

function socketTypesUsed(def: AnyNodeDefinition): string[] {
  const specs = [
    ...Object.values((def.inputs ?? {}) as Record<string, InputSpec>),
    ...Object.values((def.outputs ?? {}) as Record<string, OutputSpec>),
  ];
  return specs.flatMap((s) => String(s?.type ?? '').split(','));
}

interface LoadState {
  registry: NodeRegistry;
  log: Logger;
  configDir: string;
  root: string;
  /** namespace → location of the pack that took it in this call */
  namespaces: Map<string, string>;
  /** socket type → pack name that declared it */
  socketOwners: Map<string, string>;
  /** socket types used by nodes that were registered before any plugin (the built-ins) */
  builtinTypes: Set<string>;
}

function baseReport(entry: PluginEntry): PluginReport {
  return {
    name: entry.name ?? '',
    source: entry.package !== undefined ? 'npm' : 'folder',
    location: entryLocation(entry),
    enabled: entry.enabled !== false,
    status: 'failed',
    warnings: [],
    nodes: [],
    extensions: [],
    socketTypes: {},
  };
}

function fillFromManifest(report: PluginReport, entry: PluginEntry, manifest: PackManifest): void {
  report.name = entry.name ?? manifest.ddit.name ?? derivePackName(manifest.packageName);
  report.package = manifest.packageName;
  report.version = manifest.version;
  report.description = manifest.description;
  report.engine = manifest.ddit.engine;
  report.dir = manifest.dir;
  report.warnings.push(...manifest.warnings);
}

/** Loads one enabled entry; throws PackError (or whatever the pack threw) to fail it. */
function loadPack(entry: PluginEntry, report: PluginReport, state: LoadState): void {
  const problems = entryProblems(entry);
  if (problems.length) throw new PackError(`bad plugins.json entry: ${problems.join('; ')}`);
  const manifest = readManifest(locatePack(entry, state.configDir, state.root));
  fillFromManifest(report, entry, manifest);
  const ns = report.name;

  const taken = state.namespaces.get(ns);
  if (taken !== undefined || state.registry.list().some((d) => d.source === pluginSource(ns))) {
    throw new PackError(
      `namespace '${ns}' is already taken by ${taken ?? 'a pack loaded earlier'}; ` +
        `give this entry another "name" in plugins.json to load both`,
    );
  }
  checkEngine(manifest, ENGINE_VERSION);

  const pack: PackContext = {
    name: ns,
    version: manifest.version,
    dir: manifest.dir,
    settings: { ...(entry.settings ?? {}) },
    log: prefixedLog(state.log, ns),
  };
  const defs: AnyNodeDefinition[] = [];
  for (const rel of manifest.ddit.nodes) {
    const file = path.resolve(manifest.dir, rel);
    let resolved: string;
    try {
      resolved = require.resolve(file);
    } catch {
      throw new PackError(`node module ${rel} not found in ${manifest.dir}`);
    }
    const mod: unknown = require(resolved);
    defs.push(...nodesOf(mod, rel, pack).map((d) => namespaced(d, ns, rel)));
  }
  if (defs.length === 0) throw new PackError('the pack defines no nodes');

  // All or nothing: a pack half registered would leave workflows that half work.
  const source = pluginSource(ns);
  try {
    for (const d of defs) state.registry.register(d, source);
  } catch (err) {
    state.registry.unregisterSource(source);
    throw err;
  }
  state.namespaces.set(ns, report.location);
  report.nodes = defs.map((d) => d.type);

  for (const [type, info] of Object.entries(manifest.ddit.socketTypes)) {
    const owner = state.socketOwners.get(type);
    if (state.builtinTypes.has(type)) {
      report.warnings.push(`socket type ${type} is built in; the pack's declaration is ignored`);
    } else if (owner !== undefined) {
      report.warnings.push(
        `socket type ${type} is already declared by pack '${owner}'; keeping that declaration`,
      );
    } else {
      state.socketOwners.set(type, ns);
      report.socketTypes[type] = info;
    }
  }

  const webDir = path.resolve(manifest.dir, manifest.ddit.web);
  report.webDir = webDir;
  report.extensions = manifest.ddit.extensions.map((e) => {
    const rel = path.relative(webDir, path.resolve(manifest.dir, e)).split(path.sep);
    return `/extensions/${encodeURIComponent(ns)}/${rel.map(encodeURIComponent).join('/')}`;
  });
}

/**
 * Loads the enabled packs listed in plugins.json into `registry`, in order, and says what happened to each.
 * Never throws for a pack's fault: a pack that cannot be found, has a bad package.json, wants another engine
 * version, takes a namespace already in use, fails to import (syntax error, throws) or defines a clashing or
 * invalid node is reported with the reason, logged, and skipped whole; the others load. Register the built-in
 * packs first so that clashes with them are caught.
 */
export function loadPlugins(registry: NodeRegistry, opts: LoadPluginsOptions = {}): PluginReport[] {
  installPluginApiAlias();
  const log = opts.log ?? stderrLog;
  let config: PluginsConfig;
  const configOpt =
    opts.config ?? (pluginsDisabledByEnv() ? { plugins: [] } : defaultConfigPath(opts.root ?? PROJECT_ROOT));
  const configDir = typeof configOpt === 'string' ? path.dirname(path.resolve(configOpt)) : undefined;
  const root = path.resolve(opts.root ?? configDir ?? PROJECT_ROOT);
  if (typeof configOpt === 'string') {
    try {
      config = readPluginsConfig(configOpt);
    } catch (err) {
      const error = errorMessage(err);
      log.error(`plugins: ${error}; no community packs loaded`);
      return [
        {
          name: path.basename(configOpt),
          source: 'config',
          location: configOpt,
          enabled: true,
          status: 'failed',
          error,
          warnings: [],
          nodes: [],
          extensions: [],
          socketTypes: {},
        },
      ];
    }
  } else {
    config = configOpt;
  }

  const state: LoadState = {
    registry,
    log,
    configDir: configDir ?? root,
    root,
    namespaces: new Map(),
    socketOwners: new Map(),
    builtinTypes: new Set([
      ...BUILTIN_SOCKET_TYPES,
      ...registry
        .list()
        .filter((d) => !d.source?.startsWith('plugin:'))
        .flatMap(socketTypesUsed),
    ]),
  };
  const reports: PluginReport[] = [];
  for (const entry of config.plugins) {
    const report = baseReport(entry ?? {});
    reports.push(report);
    const started = performance.now();
    if (entry && typeof entry === 'object' && entry.enabled === false) {
      report.status = 'disabled';
      try {
        fillFromManifest(report, entry, readManifest(locatePack(entry, configDir ?? root, root)));
      } catch {
        // A disabled pack is allowed to be missing or broken: it is not loaded.
      }
      report.name ||= entryLocation(entry);
      continue;
    }
    try {
      loadPack(entry, report, state);
      report.status = 'loaded';
      report.loadMs = Math.round((performance.now() - started) * 10) / 10;
      log.info(`plugin ${report.name} ${report.version}: ${report.nodes.length} nodes (${report.loadMs} ms)`);
    } catch (err) {
      report.status = 'failed';
      report.error = errorMessage(err);
      report.nodes = [];
      report.extensions = [];
      report.socketTypes = {};
      report.name ||= report.package ? safeName(report.package) : entryLocation(entry ?? {});
      log.error(`plugin ${report.name} (${report.location}) failed to load: ${report.error}`);
    }
  }
  warnUndeclaredSocketTypes(registry, reports, state);
  for (const r of reports) for (const w of r.warnings) log.warn(`plugin ${r.name}: ${w}`);
  return reports;
}

function safeName(packageName: string): string {
  try {
    return derivePackName(packageName);
  } catch {
    return packageName;
  }
}

/** A socket type no built-in uses and no pack declares is usually a typo: say so on the pack that uses it. */
function warnUndeclaredSocketTypes(registry: NodeRegistry, reports: PluginReport[], state: LoadState): void {
  const known = new Set<string>([...WIDGET_TYPES, '*', ...state.builtinTypes, ...state.socketOwners.keys()]);
  for (const r of reports) {
    if (r.status !== 'loaded') continue;
    const unknown = new Set<string>();
    for (const t of r.nodes) {
      const def = registry.get(t);
      if (def) for (const s of socketTypesUsed(def)) if (!known.has(s)) unknown.add(s);
    }
    for (const s of unknown) {
      r.warnings.push(
        `socket type ${s} is used but neither built in nor declared in any pack's "ddit.socketTypes"`,
      );
    }
  }
}
