/**
 * The node contract: what a node type declares and what it receives when it runs.
 * Built-in packs and community plugins write against these types only.
 */

/** Upper-case socket names (IMAGE, LATENT, DDIT_MODEL, …). Widgets use the five widget kinds below. */
export type SocketType = string;

export const WIDGET_TYPES = ['INT', 'FLOAT', 'STRING', 'BOOLEAN', 'COMBO'] as const;
export type WidgetType = (typeof WIDGET_TYPES)[number];

interface InputCommon {
  /** Optional inputs may be left unconnected / unset; the node then receives `undefined` (or the default). */
  optional?: boolean;
  tooltip?: string;
  /** Show as a socket instead of a widget in the editor (widgets can always be linked from a primitive). */
  forceInput?: boolean;
}

export interface IntInput extends InputCommon {
  type: 'INT';
  default?: number;
  min?: number;
  max?: number;
  step?: number;
  /** Editor behaviour after each queue, as ComfyUI's control_after_generate. */
  control?: 'fixed' | 'increment' | 'decrement' | 'randomize';
  display?: 'number' | 'slider';
}

export interface FloatInput extends InputCommon {
  type: 'FLOAT';
  default?: number;
  min?: number;
  max?: number;
  step?: number;
  round?: number;
  display?: 'number' | 'slider';
}

export interface StringInput extends InputCommon {
  type: 'STRING';
  default?: string;
  multiline?: boolean;
  placeholder?: string;
}

export interface BooleanInput extends InputCommon {
  type: 'BOOLEAN';
  default?: boolean;
  labelOn?: string;
  labelOff?: string;
}

export interface ComboInput extends InputCommon {
  type: 'COMBO';
  /** A fixed list, or a function read each time definitions are listed (e.g. files in models/). */
  choices: readonly string[] | (() => string[]);
  default?: string;
  /** Editor hint: this combo lists files a user can upload (LoadImage). */
  upload?: 'image';
}

export interface SocketInput extends InputCommon {
  /** Any non-widget socket type. Several accepted types may be joined with commas: 'IMAGE,LATENT'. '*' accepts anything. */
  type: SocketType;
}

export type WidgetInput = IntInput | FloatInput | StringInput | BooleanInput | ComboInput;
export type InputSpec = WidgetInput | SocketInput;

export interface OutputSpec {
  type: SocketType;
  /** Label shown in the editor; defaults to the key. */
  name?: string;
  tooltip?: string;
}

/** Maps an input spec to the TypeScript type a node's run() receives for it. */
export type InputValue<S extends InputSpec> = S extends IntInput | FloatInput
  ? number
  : S extends StringInput
    ? string
    : S extends BooleanInput
      ? boolean
      : S extends ComboInput
        ? string
        : unknown;

export type InputValues<I extends Record<string, InputSpec>> = {
  [K in keyof I]: I[K] extends { optional: true } ? InputValue<I[K]> | undefined : InputValue<I[K]>;
};

/** What output nodes put on display: images written to output/, text, anything JSON. */
export interface ImageRef {
  filename: string;
  subfolder: string;
  type: 'output' | 'temp' | 'input';
}
export interface UiOutput {
  images?: ImageRef[];
  text?: string[];
  [key: string]: unknown;
}

/** A step preview: an encoded image shown on the node while it runs (ComfyUI binary preview frames). */
export interface Preview {
  format: 'png' | 'jpeg';
  data: Uint8Array;
}

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  debug(msg: string): void;
}

/** Where outputs and inputs live; set by the host (CLI or server). */
export interface Folders {
  output: string;
  input: string;
  temp: string;
  models: string;
}

export interface LoopInfo {
  /** 0-based index of the current iteration. */
  index: number;
  /** Requested number of iterations (1 when the workflow is not looped). */
  total: number;
  /** Ask the engine to end the loop after the current iteration (e.g. training reached its last step). */
  stop(reason?: string): void;
}

export interface NodeContext {
  readonly nodeId: string;
  readonly classType: string;
  readonly promptId: string;
  /** Aborted on interrupt: check it in long loops; progress() checks it too and throws. */
  readonly signal: AbortSignal;
  readonly log: Logger;
  readonly folders: Folders;
  /** The prompt's extra_data (e.g. extra_pnginfo.workflow for embedding in PNGs). */
  readonly extra: Record<string, unknown>;
  /** The API-format prompt being executed (ComfyUI's hidden PROMPT input). */
  readonly prompt: ApiPrompt;
  readonly loop: LoopInfo;
  /**
   * State private to this node that survives loop iterations and, for the same node id and class,
   * later runs in the same engine: optimiser moments, data iterators, live weights.
   */
  readonly state: Map<string, unknown>;
  /** Report progress (also an interruption point). */
  progress(value: number, max: number, preview?: Preview): void;
  /**
   * Lets the event loop turn once, then throws if the run was interrupted. Long loops of synchronous
   * tensor work await it per step: without a turn, an interrupt (Ctrl+C, SIGTERM, the server's IPC
   * message) is only seen when the node returns.
   */
  interruptionPoint(): Promise<void>;
  /** Send a custom event to clients (text-denoising states, training metrics): new type names only. */
  send(type: string, data: Record<string, unknown>): void;
  /** Set what this node shows in the editor (merged into the `executed` event and the history). */
  ui(output: UiOutput): void;
}

export type NodeOutputs = Record<string, unknown>;

export interface NodeDefinition<
  I extends Record<string, InputSpec> = Record<string, InputSpec>,
  O extends Record<string, OutputSpec> = Record<string, OutputSpec>,
> {
  /** Unique type name; plugins are namespaced 'pack.Node'. */
  type: string;
  displayName?: string;
  category: string;
  description: string;
  inputs: I;
  outputs: O;
  /** Output nodes are where planning starts (save image, show text, save checkpoint…). */
  output?: boolean;
  /** Volatile nodes run every time (randomness or side effects that must repeat), and so does everything downstream. */
  volatile?: boolean;
  /**
   * Extra cache-key material computed from the constant inputs, e.g. a file's mtime and size for
   * loaders. Return a different value whenever the node must rerun.
   */
  fingerprint?(inputs: Partial<InputValues<I>>, folders: Folders): string | number | Promise<string | number>;
  /** Custom validation of constant inputs; return an error message or undefined. */
  validate?(inputs: Partial<InputValues<I>>): string | undefined;
  deprecated?: boolean;
  experimental?: boolean;
  /** Where the definition came from (pack name), filled by the registry. */
  source?: string;
  run(
    inputs: InputValues<I>,
    ctx: NodeContext,
  ): Promise<{ [K in keyof O]: unknown }> | { [K in keyof O]: unknown };
}

/** A node type with its input/output generics erased, as the registry stores it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyNodeDefinition = NodeDefinition<any, any>;

/** API format (ComfyUI-compatible): node id → class and inputs; a link is [source id, output index]. */
export type Link = [string, number];
export interface ApiNode {
  class_type: string;
  inputs: Record<string, unknown>;
  _meta?: { title?: string };
}
export type ApiPrompt = Record<string, ApiNode>;
