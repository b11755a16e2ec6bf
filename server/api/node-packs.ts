import * as path from 'path';
import {
  NodeRegistry,
  RegistryError,
  loadBuiltinPacks,
  type AnyNodeDefinition,
  type Logger,
} from '../engine';

/** What GET /plugins reports, and where plugin editor extensions are served from. */
export interface PluginReport {
  plugins: Record<string, unknown>[];
  /** Editor extensions: served at /extensions/<pack>/<file> from `dir`. */
  extensions: { pack: string; dir: string; files: string[] }[];
}

export interface PacksLoaded {
  builtin: string[];
  extra: string[];
  plugins: PluginReport;
}

/**
 * The single place where community plugin packs (server/plugins, plugins.json) are registered into a
 * registry. Both the API process (validation, /object_info) and every worker (execution) call it, so they
 * agree on the node types. Until the plugin loader lands this registers nothing and reports no plugins.
 */
export function loadPluginPacks(_registry: NodeRegistry, _log: Logger): PluginReport {
  return { plugins: [], extensions: [] };
}

/** Registers a module exporting `nodes` (test fixtures, embedding applications). */
export function loadExtraPack(registry: NodeRegistry, file: string): string {
  const mod = require(file) as { nodes?: AnyNodeDefinition[] };
  if (!Array.isArray(mod.nodes)) throw new RegistryError(`${file} does not export a 'nodes' array`);
  const name = `extra:${path.basename(file.replace(/[\\/]index\.(ts|js)$/, ''))}`;
  registry.registerAll(mod.nodes, name);
  return name;
}

/** Built-in packs, extra packs and plugins: the same registry in the API process and the workers. */
export function loadAllPacks(registry: NodeRegistry, extraNodePacks: string[], log: Logger): PacksLoaded {
  const builtin = loadBuiltinPacks(registry);
  const extra = extraNodePacks.map((f) => loadExtraPack(registry, f));
  const plugins = loadPluginPacks(registry, log);
  return { builtin, extra, plugins };
}
