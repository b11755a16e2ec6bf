import * as path from 'path';
import {
  NodeRegistry,
  RegistryError,
  loadBuiltinPacks,
  type AnyNodeDefinition,
  type Logger,
} from '../engine';
import { loadPlugins, type LoadPluginsOptions, type PluginReport } from '../plugins';

export interface PacksLoaded {
  builtin: string[];
  extra: string[];
  /** What the plugin loader did with each plugins.json entry (GET /plugins, /extensions). */
  plugins: PluginReport[];
}

/** Which community packs a host loads: the project's plugins.json ($DDIT_PLUGINS), another one, or none. */
export type PluginsSetting = boolean | Pick<LoadPluginsOptions, 'root' | 'config'>;

/** Registers a module exporting `nodes` (test fixtures, embedding applications). */
export function loadExtraPack(registry: NodeRegistry, file: string): string {
  const mod = require(file) as { nodes?: AnyNodeDefinition[] };
  if (!Array.isArray(mod.nodes)) throw new RegistryError(`${file} does not export a 'nodes' array`);
  const name = `extra:${path.basename(file.replace(/[\\/]index\.(ts|js)$/, ''))}`;
  registry.registerAll(mod.nodes, name);
  return name;
}

/**
 * Built-in packs, extra packs and community plugins: the API process (validation, /object_info) and every
 * worker (execution) call this with the same settings, so they agree on the node types.
 */
export function loadAllPacks(
  registry: NodeRegistry,
  extraNodePacks: string[],
  plugins: PluginsSetting,
  log: Logger,
): PacksLoaded {
  const builtin = loadBuiltinPacks(registry);
  const extra = extraNodePacks.map((f) => loadExtraPack(registry, f));
  const reports = plugins ? loadPlugins(registry, plugins === true ? { log } : { ...plugins, log }) : [];
  return { builtin, extra, plugins: reports };
}
