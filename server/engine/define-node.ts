import type { InputSpec, NodeDefinition, OutputSpec } from './types';

/**
 * Declares a node type. The identity function exists for its inference: `run` gets typed inputs
 * (numbers for INT/FLOAT, strings for STRING/COMBO…) straight from the `inputs` literal.
 */
export function defineNode<
  const I extends Record<string, InputSpec>,
  const O extends Record<string, OutputSpec>,
>(def: NodeDefinition<I, O>): NodeDefinition<I, O> {
  return def;
}
