/**
 * A small parameter-collection abstraction. A model is a tree of Modules; each owns named parameters
 * (and buffers) whose full names are the dotted paths of the reference layout (diffusers / Hugging Face), so
 * `state()` and `loadState()` speak the same names as PyTorch checkpoints.
 *
 * Parameters are created lazily: building a model allocates nothing; `initialize(seed)` draws initial values
 * (each parameter from its own (seed, full-name) stream), and `loadState()` fills them from a checkpoint.
 *
 * Orientation: tfjs dense kernels are [in, out] and conv kernels HWIO [kh, kw, in, out]; PyTorch stores
 * (out, in) and (out, in, kh, kw). `state()` returns PyTorch orientation and `loadState()` expects it.
 */
import { tf } from '../tf';

/** How a parameter is laid out relative to PyTorch. */
export type ParamLayout = 'plain' | 'linear' | 'conv2d';

export interface ParamSpec {
  /** Shape in tfjs orientation. */
  shape: number[];
  layout?: ParamLayout;
  /** Draws the initial value; `label` is the parameter's full name (use it as the random stream label). */
  init: (seed: number, label: string) => tf.Tensor;
  trainable?: boolean;
}

export class Parameter {
  readonly shape: number[];
  readonly layout: ParamLayout;
  private variable: tf.Variable | null = null;
  private trainableFlag: boolean;

  constructor(
    readonly spec: ParamSpec,
    /** Buffers (fixed tables) are saved and loaded but never trained. */
    readonly isBuffer = false,
  ) {
    this.shape = spec.shape.slice();
    this.layout = spec.layout ?? 'plain';
    this.trainableFlag = isBuffer ? false : (spec.trainable ?? true);
  }

  get initialized(): boolean {
    return this.variable !== null;
  }

  /** The live value (a tf.Variable, usable in any op and by optimisers). */
  get value(): tf.Variable {
    if (!this.variable) throw new Error('parameter used before initialize() or loadState()');
    return this.variable;
  }

  get trainable(): boolean {
    return this.trainableFlag;
  }

  set trainable(t: boolean) {
    this.trainableFlag = this.isBuffer ? false : t;
    if (this.variable) this.variable.trainable = this.trainableFlag;
  }

  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** Takes the value of `t` (tfjs orientation, same shape); does not keep or dispose `t`. */
  set(t: tf.Tensor): void {
    if (!sameShape(t.shape, this.shape)) {
      throw new Error(`shape [${t.shape}] does not match parameter shape [${this.shape}]`);
    }
    const v = t.dtype === 'float32' ? t : tf.cast(t, 'float32');
    if (this.variable) this.variable.assign(v);
    else this.variable = tf.variable(v, this.trainableFlag);
    if (v !== t) v.dispose();
  }

  dispose(): void {
    this.variable?.dispose();
    this.variable = null;
  }
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** PyTorch-orientation tensor → tfjs orientation for a layout (new tensor). */
export function fromTorch(t: tf.Tensor, layout: ParamLayout): tf.Tensor {
  if (layout === 'linear') {
    if (t.rank !== 2) throw new Error(`expected a 2-D (out, in) linear weight, got rank ${t.rank}`);
    return tf.transpose(t);
  }
  if (layout === 'conv2d') {
    if (t.rank !== 4) throw new Error(`expected a 4-D (out, in, kh, kw) conv weight, got rank ${t.rank}`);
    return tf.transpose(t, [2, 3, 1, 0]);
  }
  return tf.clone(t);
}

/** tfjs orientation → PyTorch orientation (new tensor). */
export function toTorch(t: tf.Tensor, layout: ParamLayout): tf.Tensor {
  if (layout === 'linear') return tf.transpose(t);
  if (layout === 'conv2d') return tf.transpose(t, [3, 2, 0, 1]);
  return tf.clone(t);
}

/** Shape a tfjs-orientation shape has in PyTorch orientation. */
export function torchShape(shape: number[], layout: ParamLayout): number[] {
  if (layout === 'linear') return [shape[1], shape[0]];
  if (layout === 'conv2d') return [shape[3], shape[2], shape[0], shape[1]];
  return shape.slice();
}

export interface LoadOptions {
  /** Throw when a parameter is missing or the map holds a name the model does not know (default true). */
  strict?: boolean;
  /** Prefix of this model's names inside the map (e.g. 'transformer.'); keys without it are ignored. */
  prefix?: string;
}

export interface LoadReport {
  loaded: string[];
  missing: string[];
  unexpected: string[];
}

/**
 * A lazily read state (e.g. an open safetensors file): tensors are read one at a time and handed over, so
 * loadState() disposes each after copying it and a large checkpoint never sits in memory twice.
 */
export interface StateSource {
  keys(): string[];
  has(key: string): boolean;
  /** Shape in the stored (PyTorch) orientation, without reading the data. */
  shape(key: string): number[];
  /** Reads one tensor; the caller owns it. */
  read(key: string): tf.Tensor;
}

export type StateMap = Map<string, tf.Tensor> | Record<string, tf.Tensor> | StateSource;

function isSource(m: StateMap): m is StateSource {
  return typeof (m as StateSource).read === 'function' && typeof (m as StateSource).shape === 'function';
}

export abstract class Module {
  private readonly ownParams = new Map<string, Parameter>();
  private readonly children = new Map<string, Module>();
  /** Other names a checkpoint may use for a parameter of this module: alias → canonical (relative names). */
  protected readonly aliases = new Map<string, string>();

  protected param(name: string, spec: ParamSpec): Parameter {
    if (this.ownParams.has(name) || this.children.has(name)) throw new Error(`duplicate name '${name}'`);
    const p = new Parameter(spec);
    this.ownParams.set(name, p);
    return p;
  }

  protected buffer(name: string, spec: ParamSpec): Parameter {
    if (this.ownParams.has(name) || this.children.has(name)) throw new Error(`duplicate name '${name}'`);
    const p = new Parameter(spec, true);
    this.ownParams.set(name, p);
    return p;
  }

  protected module<M extends Module>(name: string, m: M): M {
    if (this.ownParams.has(name) || this.children.has(name)) throw new Error(`duplicate name '${name}'`);
    this.children.set(name, m);
    return m;
  }

  /** All parameters and buffers with their full dotted names, in registration order. */
  namedEntries(prefix = ''): Array<[string, Parameter]> {
    const out: Array<[string, Parameter]> = [];
    for (const [n, p] of this.ownParams) out.push([prefix + n, p]);
    for (const [n, c] of this.children) out.push(...c.namedEntries(`${prefix}${n}.`));
    return out;
  }

  /** Learnable parameters (not buffers) with full names. */
  namedParameters(prefix = ''): Array<[string, Parameter]> {
    return this.namedEntries(prefix).filter(([, p]) => !p.isBuffer);
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Variables of the parameters currently marked trainable (what an optimiser updates). */
  trainableVariables(): tf.Variable[] {
    return this.parameters()
      .filter((p) => p.trainable)
      .map((p) => p.value);
  }

  setTrainable(trainable: boolean): this {
    for (const p of this.parameters()) p.trainable = trainable;
    return this;
  }

  get numParams(): number {
    return this.parameters().reduce((a, p) => a + p.size, 0);
  }

  /** Bytes held by initialised parameters and buffers (float32). */
  get byteSize(): number {
    return this.namedEntries().reduce((a, [, p]) => a + (p.initialized ? p.size * 4 : 0), 0);
  }

  private allAliases(prefix = ''): Map<string, string> {
    const out = new Map<string, string>();
    for (const [a, c] of this.aliases) out.set(prefix + a, prefix + c);
    for (const [n, ch] of this.children) for (const [a, c] of ch.allAliases(`${prefix}${n}.`)) out.set(a, c);
    return out;
  }

  /** Draws initial values for every parameter and buffer (replacing current values). */
  initialize(seed: number): this {
    for (const [name, p] of this.namedEntries()) {
      const t = p.spec.init(seed, name);
      try {
        p.set(t);
      } catch (e) {
        throw new Error(`initialising '${name}': ${(e as Error).message}`);
      } finally {
        t.dispose();
      }
    }
    return this;
  }

  /** Full state in PyTorch orientation (new tensors, owned by the caller). */
  state(prefix = ''): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (const [name, p] of this.namedEntries()) {
      if (!p.initialized) throw new Error(`state(): '${name}' is not initialised`);
      out.set(prefix + name, toTorch(p.value, p.layout));
    }
    return out;
  }

  /**
   * Loads values given in PyTorch orientation. Buffers missing from the map keep their (computed) values;
   * a missing parameter is an error when strict and stays as it was otherwise. Input tensors are not disposed.
   */
  loadState(map: StateMap, options: LoadOptions = {}): LoadReport {
    const strict = options.strict ?? true;
    const prefix = options.prefix ?? '';
    const source = isSource(map) ? map : null;
    const table = source ? null : (map as Map<string, tf.Tensor> | Record<string, tf.Tensor>);
    const lookup = (k: string): tf.Tensor | undefined => (table instanceof Map ? table.get(k) : table![k]);
    const has = (k: string): boolean => (source ? source.has(k) : lookup(k) !== undefined);
    const shapeOf = (k: string): number[] => (source ? source.shape(k) : lookup(k)!.shape);
    const keys = source ? source.keys() : table instanceof Map ? [...table.keys()] : Object.keys(table!);
    const aliases = this.allAliases();
    const byCanonical = new Map<string, string[]>();
    for (const [a, c] of aliases) byCanonical.set(c, [...(byCanonical.get(c) ?? []), a]);
    const report: LoadReport = { loaded: [], missing: [], unexpected: [] };
    const used = new Set<string>();
    for (const [name, p] of this.namedEntries()) {
      let key: string | null = has(prefix + name) ? prefix + name : null;
      if (key === null) {
        for (const a of byCanonical.get(name) ?? []) {
          if (has(prefix + a)) {
            key = prefix + a;
            break;
          }
        }
      }
      if (key === null) {
        if (!p.isBuffer) report.missing.push(name);
        if (!p.initialized && p.isBuffer) {
          const init = p.spec.init(0, name);
          p.set(init);
          init.dispose();
        }
        continue;
      }
      used.add(key);
      const expected = torchShape(p.shape, p.layout);
      const got = shapeOf(key);
      if (!sameShape(got, expected)) {
        throw new Error(
          `loadState: '${key}' has shape [${got}], the model expects [${expected}] (PyTorch orientation)`,
        );
      }
      const t = source ? source.read(key) : lookup(key)!;
      try {
        const converted = fromTorch(t, p.layout);
        p.set(converted);
        converted.dispose();
      } finally {
        if (source) t.dispose();
      }
      report.loaded.push(name);
    }
    for (const k of keys) {
      if (!k.startsWith(prefix) || used.has(k)) continue;
      const rel = k.slice(prefix.length);
      if (aliases.has(rel)) continue;
      report.unexpected.push(k);
    }
    if (strict && (report.missing.length || report.unexpected.length)) {
      const parts: string[] = [];
      if (report.missing.length)
        parts.push(`missing ${report.missing.slice(0, 8).join(', ')}${more(report.missing)}`);
      if (report.unexpected.length) {
        parts.push(`unexpected ${report.unexpected.slice(0, 8).join(', ')}${more(report.unexpected)}`);
      }
      throw new Error(`loadState${prefix ? ` (prefix '${prefix}')` : ''}: ${parts.join('; ')}`);
    }
    return report;
  }

  private disposedFlag = false;

  /** True once dispose() ran (caches use it to drop freed models). */
  get disposed(): boolean {
    return this.disposedFlag;
  }

  /** Frees every parameter and buffer. */
  dispose(): void {
    for (const [, p] of this.namedEntries()) p.dispose();
    this.disposedFlag = true;
  }
}

function more(list: string[]): string {
  return list.length > 8 ? ` (+${list.length - 8} more)` : '';
}
