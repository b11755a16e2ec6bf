/**
 * The plugin API: the one module a node pack imports from ddit-studio.
 *
 *   import { defineNode, socketType, runtime } from 'ddit-studio/plugin-api';
 *
 * When a pack is loaded by ddit-studio, `ddit-studio/plugin-api` resolves to this file of the running host
 * (see alias.ts), so every pack shares the host's engine types and its single tfjs instance. Everything here is
 * part of the versioned contract: a breaking change bumps the project's minor version while it is 0.x (major
 * after), so a pack's `"engine": "^0.1.0"` range keeps it off hosts it was not written for.
 */
import { defineNode } from '../engine/define-node';
import type { AnyNodeDefinition, Logger, OutputSpec, SocketInput } from '../engine/types';
import { ENGINE_VERSION } from './version';

export { defineNode };
export type {
  AnyNodeDefinition,
  BooleanInput,
  ComboInput,
  FloatInput,
  Folders,
  ImageRef,
  InputSpec,
  InputValues,
  IntInput,
  Logger,
  LoopInfo,
  NodeContext,
  NodeDefinition,
  NodeOutputs,
  OutputSpec,
  Preview,
  SocketInput,
  StringInput,
  UiOutput,
} from '../engine/types';

/** Tensor types for annotations (type-only: importing them loads nothing). Values come from runtime().tf. */
export type { Tensor, Tensor1D, Tensor2D, Tensor3D, Tensor4D } from '@tensorflow/tfjs';

/** The host version `ddit.engine` ranges are matched against (semver). */
export const PLUGIN_API_VERSION: string = ENGINE_VERSION;

/** Socket type names are upper-case identifiers, like the built-in IMAGE or LATENT. */
export const SOCKET_TYPE_NAME = /^[A-Z][A-Z0-9_]*$/;

/** How a socket type is presented: the editor colours links of this type and shows the description. */
export interface SocketTypeInfo {
  /** CSS colour for links and slots of this type, e.g. '#d9a441'. */
  color?: string;
  description?: string;
}

/** A named socket type with helpers that build input and output specs carrying its name. */
export interface SocketTypeHelper<N extends string> {
  readonly name: N;
  input<const O extends Omit<SocketInput, 'type'>>(options?: O): { type: N } & O;
  output<const O extends Omit<OutputSpec, 'type'>>(options?: O): { type: N } & O;
}

/**
 * Names a socket type once so nodes cannot misspell it. Declare the type itself (colour, description) in the
 * pack's package.json under `ddit.socketTypes`, where the host and the editor read it without running code.
 */
export function socketType<const N extends string>(name: N): SocketTypeHelper<N> {
  if (!SOCKET_TYPE_NAME.test(name)) {
    throw new Error(`socket type ${JSON.stringify(name)} must be upper case: letters, digits and '_'`);
  }
  return {
    name,
    input: (options) => ({ ...(options ?? {}), type: name }) as never,
    output: (options) => ({ ...(options ?? {}), type: name }) as never,
  };
}

/** Socket types the built-in packs define (DESIGN.md §3); packs may consume and produce them. */
export const BUILTIN_SOCKET_TYPES: readonly string[] = [
  'IMAGE',
  'MASK',
  'LATENT',
  'TOKENS',
  'TEXT',
  'CONDITIONING',
  'VAE',
  'TEXT_ENCODER',
  'TOKENIZER',
  'DDIT_MODEL',
  'SIGMAS',
  'LOSS',
  'OPTIMIZER',
  'DATASET',
  'BATCH',
];

export const IMAGE = socketType('IMAGE');
export const LATENT = socketType('LATENT');
export const MASK = socketType('MASK');
export const CONDITIONING = socketType('CONDITIONING');

/** What a pack's node module receives when it exports `nodes` as a function instead of an array. */
export interface PackContext {
  /** The pack's namespace: its node types are registered as `<name>.<Node>`. */
  readonly name: string;
  /** The pack's version from its package.json. */
  readonly version: string;
  /** The pack's folder (absolute). */
  readonly dir: string;
  /** The `settings` object of the pack's plugins.json entry ({} when absent). */
  readonly settings: Readonly<Record<string, unknown>>;
  /** Messages prefixed with the pack's name. */
  readonly log: Logger;
}

/** A node module may export `nodes` as a factory taking the pack context (to read settings). */
export type NodesFactory = (pack: PackContext) => readonly AnyNodeDefinition[];

/** The tensor runtime (tfjs and weight files): typed, but only loaded when a node first asks for it. */
export type Runtime = typeof import('../runtime');

let runtimeModule: Runtime | undefined;

/**
 * The host's tensor runtime: `runtime().tf` is the tfjs namespace every tensor in the process belongs to.
 * Call it inside `run()`, not at import, so that listing nodes does not start a tensor backend. Never import
 * '@tensorflow/tfjs' in a published pack: its copy would be a second, incompatible tfjs engine.
 */
export function runtime(): Runtime {
  runtimeModule ??= require('../runtime') as Runtime;
  return runtimeModule;
}

/** Checks an input's value at run time with an error that names the node's input (the engine adds the node). */
export function expectShape(
  input: string,
  value: unknown,
  rank: number,
  last?: number,
): asserts value is { shape: number[] } {
  const shape = (value as { shape?: unknown } | null)?.shape;
  if (!Array.isArray(shape) || shape.length !== rank || (last !== undefined && shape[rank - 1] !== last)) {
    const want = `rank ${rank}${last !== undefined ? ` with last dimension ${last}` : ''}`;
    const got = Array.isArray(shape) ? `[${shape.join(', ')}]` : typeof value;
    throw new Error(`input '${input}': expected a tensor of ${want}, got ${got}`);
  }
}

/** IMAGE values are float32 tensors [batch, height, width, 3] in [0, 1]. */
export function expectImage(input: string, value: unknown): asserts value is { shape: number[] } {
  expectShape(input, value, 4, 3);
}
