/**
 * Which runtime serves inference: onnxruntime (exported graphs, cached by weight hash) or the tfjs model.
 *
 *   const model = selectInferenceModel(ddit, { engine: 'auto' });   // DDiT → a DualModel
 *   const vae = selectInferenceModel(autoencoder);                    // AutoencoderKL → a VaeModel
 *   const enc = selectInferenceModel(t5);                             // T5Encoder → a text encoder
 *
 * engine (option, else DDIT_INFERENCE, else 'auto'):
 *   'tfjs'  the tfjs model itself;
 *   'onnx'  onnxruntime, and an error when it cannot run (onnxruntime-node missing, export or session failure);
 *   'auto'  onnxruntime when it works, otherwise the tfjs model (the reason goes to `onFallback`, default
 *           console.warn, and to `fallbackReason`).
 * Selection is synchronous and lazy: the export (or cache lookup) and the session start on the first call,
 * so a node can select in its run() and await the first forward. Selecting the same model again reuses the
 * session while its weights are unchanged (tfjs gives variables new storage when they are assigned, e.g. by
 * an optimiser, and that triggers a new export). Training always needs the tfjs model (`.tfjs`).
 */
import type { tf } from '../../server/runtime/tf';
import type { OnnxExportSessionOptions } from '../../server/runtime/onnx-cache';
import { weightsUnchanged } from '../../server/runtime/onnx-cache';
import type { Module } from '../../server/runtime/nn';
import type { LatentRgb } from '../sampling/interfaces';
import { T5Encoder } from '../text/t5';
import { OnnxTextEncoder } from '../text/onnx';
import { AutoencoderKL, type EncodeOptions, type ResolvedVaeConfig, type VaeModel } from '../vae/model';
import { OnnxAutoencoderKL } from '../vae/onnx';
import type { ResolvedDDiTConfig } from './config';
import { DDiT, type DDiTForwardOptions, type DDiTOutputs } from './model';
import { OnnxDDiT } from './onnx';

export type InferenceEngine = 'auto' | 'onnx' | 'tfjs';
export const INFERENCE_ENGINES: readonly InferenceEngine[] = ['auto', 'onnx', 'tfjs'];

/** DDIT_INFERENCE, validated ('auto' when unset). */
export function inferenceEngineFromEnv(env: NodeJS.ProcessEnv = process.env): InferenceEngine {
  const raw = env.DDIT_INFERENCE?.trim().toLowerCase();
  if (!raw) return 'auto';
  if ((INFERENCE_ENGINES as readonly string[]).includes(raw)) return raw as InferenceEngine;
  throw new Error(`DDIT_INFERENCE="${env.DDIT_INFERENCE}" is not one of ${INFERENCE_ENGINES.join(', ')}`);
}

export interface SelectOptions extends OnnxExportSessionOptions {
  /** Overrides DDIT_INFERENCE. */
  engine?: InferenceEngine;
  /** Told why 'auto' fell back to tfjs (default: console.warn). */
  onFallback?: (reason: string) => void;
}

/** The runtime a selection resolved to. */
export type ResolvedEngine = 'onnx' | 'tfjs';

/** Shared lazy resolution: the ONNX twin once it opened, or the reason it could not. */
class Resolution<O extends { dispose(): void }> {
  private promise: Promise<O | null> | null = null;
  private onnx: O | null = null;
  fallbackReason: string | null = null;
  engine: ResolvedEngine | null = null;

  constructor(
    private readonly what: string,
    private readonly open: () => Promise<O>,
    private readonly mode: 'auto' | 'onnx',
    private readonly onFallback: (reason: string) => void,
  ) {}

  /** The ONNX model, or null when 'auto' fell back to tfjs. */
  get(): Promise<O | null> {
    if (!this.promise) {
      this.promise = this.open().then(
        (o) => {
          this.onnx = o;
          this.engine = 'onnx';
          return o;
        },
        (e: unknown) => {
          const reason = e instanceof Error ? e.message : String(e);
          if (this.mode === 'onnx')
            throw new Error(`${this.what}: ONNX inference was requested but failed: ${reason}`);
          this.fallbackReason = reason;
          this.engine = 'tfjs';
          this.onFallback(`${this.what}: ONNX inference unavailable, using tfjs (${reason})`);
          return null;
        },
      );
    }
    return this.promise;
  }

  dispose(): void {
    this.onnx?.dispose();
    this.onnx = null;
  }
}

function defaultFallback(reason: string): void {
  console.warn(reason);
}

/** A D-DiT for inference: onnxruntime when selected and working, else the tfjs model (same forward). */
export class InferenceDDiT {
  private readonly r: Resolution<OnnxDDiT>;

  constructor(
    readonly tfjs: DDiT,
    readonly mode: 'auto' | 'onnx',
    opts: SelectOptions = {},
  ) {
    this.r = new Resolution(
      'D-DiT',
      () => OnnxDDiT.fromModel(tfjs, opts),
      mode,
      opts.onFallback ?? defaultFallback,
    );
  }

  get config(): ResolvedDDiTConfig {
    return this.tfjs.config;
  }

  /** Resolves the runtime (exporting and opening the session if needed). */
  async ready(): Promise<ResolvedEngine> {
    return (await this.r.get()) ? 'onnx' : 'tfjs';
  }

  /** The runtime in use, or null before the first call. */
  get engine(): ResolvedEngine | null {
    return this.r.engine;
  }

  get fallbackReason(): string | null {
    return this.r.fallbackReason;
  }

  forward(
    z: tf.Tensor4D,
    tau: tf.Tensor1D | number | number[],
    enc: tf.Tensor3D,
  ): Promise<Required<DDiTOutputs>>;
  forward(
    z: tf.Tensor4D | null,
    tau: tf.Tensor1D | number | number[],
    enc: tf.Tensor3D,
    opts: DDiTForwardOptions,
  ): Promise<DDiTOutputs>;
  async forward(
    z: tf.Tensor4D | null,
    tau: tf.Tensor1D | number | number[],
    enc: tf.Tensor3D,
    opts: DDiTForwardOptions = {},
  ): Promise<DDiTOutputs> {
    const onnx = await this.r.get();
    return onnx ? onnx.forward(z, tau, enc, opts) : this.tfjs.forward(z, tau, enc, opts);
  }

  /** Frees the ONNX session (the tfjs model belongs to whoever loaded it). */
  dispose(): void {
    this.r.dispose();
  }
}

/** A VAE for inference (VaeModel): onnxruntime when selected and working, else the tfjs AutoencoderKL. */
export class InferenceVae implements VaeModel {
  private readonly r: Resolution<OnnxAutoencoderKL>;

  constructor(
    readonly tfjs: AutoencoderKL,
    readonly mode: 'auto' | 'onnx',
    opts: SelectOptions = {},
  ) {
    this.r = new Resolution(
      'VAE',
      () => OnnxAutoencoderKL.fromModel(tfjs, opts),
      mode,
      opts.onFallback ?? defaultFallback,
    );
  }

  get config(): ResolvedVaeConfig {
    return this.tfjs.config;
  }

  get latentRgb(): LatentRgb | undefined {
    return this.tfjs.latentRgb;
  }

  get byteSize(): number {
    return this.tfjs.byteSize;
  }

  async ready(): Promise<ResolvedEngine> {
    return (await this.r.get()) ? 'onnx' : 'tfjs';
  }

  get engine(): ResolvedEngine | null {
    return this.r.engine;
  }

  get fallbackReason(): string | null {
    return this.r.fallbackReason;
  }

  async decode(latent: tf.Tensor4D): Promise<tf.Tensor4D> {
    const onnx = await this.r.get();
    return onnx ? onnx.decode(latent) : this.tfjs.decode(latent);
  }

  async encode(image: tf.Tensor4D, opts?: EncodeOptions): Promise<tf.Tensor4D> {
    const onnx = await this.r.get();
    return onnx ? onnx.encode(image, opts) : this.tfjs.encode(image, opts);
  }

  dispose(): void {
    this.r.dispose();
  }
}

/** A T5 encoder for inference: onnxruntime when selected and working, else the tfjs T5Encoder. */
export class InferenceTextEncoder {
  private readonly r: Resolution<OnnxTextEncoder>;

  constructor(
    readonly tfjs: T5Encoder,
    readonly mode: 'auto' | 'onnx',
    opts: SelectOptions = {},
  ) {
    this.r = new Resolution(
      'text encoder',
      () => OnnxTextEncoder.fromModel(tfjs, opts),
      mode,
      opts.onFallback ?? defaultFallback,
    );
  }

  get config(): T5Encoder['config'] {
    return this.tfjs.config;
  }

  async ready(): Promise<ResolvedEngine> {
    return (await this.r.get()) ? 'onnx' : 'tfjs';
  }

  get engine(): ResolvedEngine | null {
    return this.r.engine;
  }

  get fallbackReason(): string | null {
    return this.r.fallbackReason;
  }

  async encode(ids: tf.Tensor2D | number[][]): Promise<tf.Tensor3D> {
    const onnx = await this.r.get();
    return onnx ? onnx.encode(ids) : this.tfjs.encode(ids);
  }

  dispose(): void {
    this.r.dispose();
  }
}

type Selected = InferenceDDiT | InferenceVae | InferenceTextEncoder;

// Selections per model and options, reused while the model's weights keep their storage.
const selections = new WeakMap<Module, Map<string, Selected>>();

function optionsKey(mode: string, opts: SelectOptions): string {
  const { onFallback: _f, engine: _e, ...rest } = opts;
  return JSON.stringify({ mode, ...rest });
}

function reuse<S extends Selected>(model: Module, key: string, make: () => S): S {
  let perModel = selections.get(model);
  if (!perModel) {
    perModel = new Map();
    selections.set(model, perModel);
  }
  const prev = perModel.get(key) as S | undefined;
  // an unresolved selection has not exported yet; a resolved one is valid while the weights are the same
  if (prev && (prev.engine === null || prev.engine === 'tfjs' || weightsUnchanged(model))) return prev;
  const made = make();
  perModel.set(key, made);
  return made;
}

export function selectInferenceModel(model: DDiT, opts?: SelectOptions): DDiT | InferenceDDiT;
export function selectInferenceModel(
  model: AutoencoderKL,
  opts?: SelectOptions,
): AutoencoderKL | InferenceVae;
export function selectInferenceModel(
  model: T5Encoder,
  opts?: SelectOptions,
): T5Encoder | InferenceTextEncoder;
export function selectInferenceModel(
  model: DDiT | AutoencoderKL | T5Encoder,
  opts: SelectOptions = {},
): DDiT | AutoencoderKL | T5Encoder | Selected {
  const engine = opts.engine ?? inferenceEngineFromEnv();
  if (engine === 'tfjs') return model;
  const key = optionsKey(engine, opts);
  if (model instanceof DDiT) return reuse(model, key, () => new InferenceDDiT(model, engine, opts));
  if (model instanceof AutoencoderKL) return reuse(model, key, () => new InferenceVae(model, engine, opts));
  if (model instanceof T5Encoder)
    return reuse(model, key, () => new InferenceTextEncoder(model, engine, opts));
  throw new Error('selectInferenceModel: expected a DDiT, an AutoencoderKL or a T5Encoder');
}

/** The tfjs model behind a selection (or the value itself): what training and state() need. */
export function tfjsModelOf<T>(v: T): T | DDiT | AutoencoderKL | T5Encoder {
  if (v instanceof InferenceDDiT || v instanceof InferenceVae || v instanceof InferenceTextEncoder)
    return v.tfjs;
  return v;
}

/** How a loaded model wants to be served: set by the loader nodes, read by the nodes that run it. */
export interface InferencePreference {
  /** undefined: DDIT_INFERENCE, else 'auto'. */
  engine?: InferenceEngine;
  /** The checkpoint file (ONNX exports are cached beside it). */
  source?: string;
}

const preferences = new WeakMap<object, InferencePreference>();

/** Records how `model` should be served (the loader's `inference` input and the file it came from). */
export function preferInference(model: object, pref: InferencePreference): void {
  preferences.set(model, { ...pref });
}

/**
 * For a node input: a tfjs DDiT, AutoencoderKL or T5Encoder comes back served as its loader asked
 * (preferInference), else per DDIT_INFERENCE, else 'auto'; any other value (an ONNX-served model, a plugin's
 * model) is returned unchanged.
 */
export function inferenceModel(value: unknown): unknown {
  if (!(value instanceof DDiT || value instanceof AutoencoderKL || value instanceof T5Encoder)) return value;
  const pref = preferences.get(value) ?? {};
  const opts: SelectOptions = { engine: pref.engine ?? inferenceEngineFromEnv() };
  if (pref.source) opts.source = pref.source;
  if (value instanceof DDiT) return selectInferenceModel(value, opts);
  if (value instanceof AutoencoderKL) return selectInferenceModel(value, opts);
  return selectInferenceModel(value, opts);
}

/** The loader nodes' optional `inference` input. */
export const INFERENCE_INPUT = {
  type: 'COMBO',
  choices: INFERENCE_ENGINES,
  default: 'auto',
  optional: true,
  tooltip:
    'Runtime for sampling and encoding: onnx (onnxruntime; the export is cached beside the file), tfjs, or auto ' +
    '(DDIT_INFERENCE if set, else onnx when it works and tfjs otherwise). Training always uses tfjs.',
} as const;

/** The loader's choice as a preference: 'auto' defers to DDIT_INFERENCE. */
export function loaderPreference(choice: string | undefined, source: string): InferencePreference {
  if (choice !== undefined && !(INFERENCE_ENGINES as readonly string[]).includes(choice)) {
    throw new Error(`input 'inference': '${choice}' is not one of ${INFERENCE_ENGINES.join(', ')}`);
  }
  return { engine: choice === 'onnx' || choice === 'tfjs' ? choice : undefined, source };
}
