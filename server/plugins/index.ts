/**
 * Community node packs: plugins.json lists them, loadPlugins() registers their namespaced nodes with fault
 * isolation, and the helpers here let the server serve their editor extensions. Packs themselves import only
 * api.ts (as 'ddit-studio/plugin-api'). See docs/writing-a-node-pack.md.
 */
export {
  loadPlugins,
  pluginSource,
  type LoadPluginsOptions,
  type PluginReport,
  type PluginStatus,
} from './loader';
export { resolveExtensionFile, extensionScripts, pluginSocketTypes, publicReport } from './extensions';
export {
  readPluginsConfig,
  writePluginsConfig,
  defaultConfigPath,
  entryProblems,
  PluginConfigError,
  type PluginEntry,
  type PluginsConfig,
} from './config';
export {
  derivePackName,
  readManifest,
  locatePack,
  PackError,
  type PackManifest,
  type DditManifest,
} from './manifest';
export { installPluginApiAlias, PLUGIN_API_FILE } from './alias';
export { ENGINE_VERSION, PROJECT_ROOT } from './version';
