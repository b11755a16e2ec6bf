/**
 * The engine's public face: node packs, plugins, the server and the CLI import from here.
 * The engine knows nothing of tensors or HTTP.
 */
export * from './types';
export * from './events';
export { defineNode } from './define-node';
export { NodeRegistry, RegistryError, loadBuiltinPacks } from './registry';
export { toObjectInfo, inputsJsonSchema, type ObjectInfo } from './schema';
export { validatePrompt, formatValidation, type ValidationResult, type NodeErrors } from './validate';
export { Engine, type ExecuteOptions, type RunResult, type EngineOptions } from './executor';
export { editorToApi, toApiPrompt, isEditorWorkflow, isApiPrompt, ConversionError } from './convert';
export { applyOverrides, parseSetFlags, OverrideError } from './overrides';
export { InterruptedError, NodeExecutionError, NodeInputError } from './errors';
export { registerValueHooks, type ValueHooks } from './value-hooks';

import { NodeRegistry, loadBuiltinPacks } from './registry';
import { Engine, type EngineOptions } from './executor';
import type { LoadPluginsOptions, PluginReport } from '../plugins/loader';

export interface CreateEngineOptions extends Omit<EngineOptions, 'registry'> {
  registry?: NodeRegistry;
  /**
   * Also load the community packs enabled in plugins.json (server/plugins): `true` for the project's
   * plugins.json (or $DDIT_PLUGINS), or options naming another root or config. Off by default.
   */
  plugins?: boolean | LoadPluginsOptions;
}

/** A registry with every built-in pack (and, when asked, the enabled plugins), and an engine over it. */
export function createEngine(opts: CreateEngineOptions = {}): Engine & { plugins: PluginReport[] } {
  const { plugins, ...engineOpts } = opts;
  const registry = opts.registry ?? new NodeRegistry();
  if (!opts.registry) loadBuiltinPacks(registry);
  let reports: PluginReport[] = [];
  if (plugins) {
    // Required lazily: the engine does not depend on the plugin layer unless a host asks for plugins.
    const { loadPlugins } = require('../plugins/loader') as typeof import('../plugins/loader');
    reports = loadPlugins(registry, plugins === true ? { log: opts.log } : { log: opts.log, ...plugins });
  }
  return Object.assign(new Engine({ ...engineOpts, registry }), { plugins: reports });
}
