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

/** A registry with every built-in pack, and an engine over it. */
export function createEngine(
  opts: Omit<EngineOptions, 'registry'> & { registry?: NodeRegistry } = {},
): Engine {
  const registry = opts.registry ?? new NodeRegistry();
  if (!opts.registry) loadBuiltinPacks(registry);
  return new Engine({ ...opts, registry });
}
