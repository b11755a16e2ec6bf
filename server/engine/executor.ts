import * as os from 'os';
import * as path from 'path';
import { randomUUID } from 'crypto';
import type { ApiPrompt, Folders, Logger, NodeContext, Preview, UiOutput } from './types';
import type { EngineEvent, EventSink } from './events';
import { NodeRegistry } from './registry';
import { OutputCache, type CacheLimits } from './cache';
import { computeKeys } from './cache-keys';
import { planExecution, CycleError } from './plan';
import { isLink, validatePrompt, type ValidationResult } from './validate';
import { InterruptedError, NodeExecutionError } from './errors';
import { disposableLeaves } from './value-hooks';

export interface LoopOptions {
  iterations: number;
}

export interface ExecuteOptions {
  promptId?: string;
  extra?: Record<string, unknown>;
  /** Only these output nodes (and their ancestors) run. */
  targets?: string[];
  signal?: AbortSignal;
  onEvent?: EventSink;
  /** Run the graph repeatedly (training). Also read from extra.loop. */
  loop?: LoopOptions;
}

export type RunStatus = 'success' | 'error' | 'interrupted';

export interface RunResult {
  promptId: string;
  status: RunStatus;
  /** UI output per node id (what history shows). */
  outputs: Record<string, UiOutput>;
  executed: string[];
  cached: string[];
  iterations: number;
  error?: {
    nodeId: string | null;
    classType: string | null;
    type: string;
    message: string;
    traceback: string[];
  };
  validation?: ValidationResult;
}

export interface EngineOptions {
  registry: NodeRegistry;
  folders?: Partial<Folders>;
  cache?: Partial<CacheLimits>;
  log?: Logger;
  /** How many node-state maps to keep between runs (least recently used are dropped). */
  maxNodeStates?: number;
}

const consoleLogger: Logger = {
  info: (m) => console.log(m),
  warn: (m) => console.warn(m),
  error: (m) => console.error(m),
  debug: () => {},
};

function summarise(v: unknown): unknown {
  if (v === null || v === undefined) return v;
  if (typeof v === 'number' || typeof v === 'boolean') return v;
  if (typeof v === 'string') return v.length > 200 ? v.slice(0, 200) + '…' : v;
  if (Array.isArray(v)) return `[array of ${v.length}]`;
  const shape = (v as { shape?: unknown }).shape;
  if (Array.isArray(shape)) return `tensor ${JSON.stringify(shape)}`;
  return `[${(v as object).constructor?.name ?? 'object'}]`;
}

/** Runs API-format prompts against a registry, with a structural output cache shared across runs. */
export class Engine {
  readonly registry: NodeRegistry;
  readonly cache: OutputCache;
  readonly folders: Folders;
  readonly log: Logger;
  private readonly states = new Map<string, Map<string, unknown>>();
  private readonly maxNodeStates: number;

  constructor(opts: EngineOptions) {
    this.registry = opts.registry;
    this.cache = new OutputCache({ maxEntries: 500, maxBytes: 2 * 1024 ** 3, ...opts.cache });
    const root = process.cwd();
    this.folders = {
      output: path.join(root, 'output'),
      input: path.join(root, 'input'),
      temp: path.join(os.tmpdir(), 'ddit-temp'),
      models: path.join(root, 'models'),
      ...opts.folders,
    };
    this.log = opts.log ?? consoleLogger;
    this.maxNodeStates = opts.maxNodeStates ?? 256;
  }

  validate(prompt: unknown, targets?: string[]): ValidationResult {
    return validatePrompt(prompt, this.registry, { targets });
  }

  private stateFor(id: string, classType: string): Map<string, unknown> {
    const k = `${id}\0${classType}`;
    let s = this.states.get(k);
    if (s) {
      this.states.delete(k);
    } else {
      s = new Map();
    }
    this.states.set(k, s);
    while (this.states.size > this.maxNodeStates) {
      const oldest = this.states.keys().next().value as string;
      this.states.delete(oldest);
    }
    return s;
  }

  /** Leaves held by node states: never freed by the cache, since a node still owns them. */
  private stateLeaves(): Set<object> {
    const set = new Set<object>();
    for (const s of this.states.values())
      for (const v of s.values()) for (const l of disposableLeaves(v)) set.add(l);
    return set;
  }

  /** Validate, then run. An invalid prompt gives status 'error' with the validation attached. */
  async execute(promptInput: unknown, opts: ExecuteOptions = {}): Promise<RunResult> {
    const promptId = opts.promptId ?? randomUUID();
    const validation = this.validate(promptInput, opts.targets);
    if (!validation.ok) {
      return {
        promptId,
        status: 'error',
        outputs: {},
        executed: [],
        cached: [],
        iterations: 0,
        error: {
          nodeId: Object.keys(validation.node_errors)[0] ?? null,
          classType: Object.values(validation.node_errors)[0]?.class_type ?? null,
          type: validation.error!.type,
          message: validation.error!.message,
          traceback: [],
        },
        validation,
      };
    }
    return this.run(validation.prompt, validation.outputs, { ...opts, promptId });
  }

  /** Runs an already validated prompt (the server validates once at submission). */
  async run(
    prompt: ApiPrompt,
    targets: string[],
    opts: ExecuteOptions & { promptId: string },
  ): Promise<RunResult> {
    const { promptId } = opts;
    const extra = opts.extra ?? {};
    const emit = (e: EngineEvent): void => {
      try {
        opts.onEvent?.(e);
      } catch (err) {
        this.log.warn(`event listener failed: ${(err as Error).message}`);
      }
    };
    const signal = opts.signal ?? new AbortController().signal;
    const loopOpt = opts.loop ?? (extra.loop as LoopOptions | undefined);
    const total = Math.max(1, Math.floor(Number(loopOpt?.iterations ?? 1)) || 1);
    const result: RunResult = {
      promptId,
      status: 'success',
      outputs: {},
      executed: [],
      cached: [],
      iterations: 0,
    };

    emit({ type: 'execution_start', data: { prompt_id: promptId, timestamp: Date.now() } });
    let order: string[];
    try {
      order = planExecution(prompt, targets);
    } catch (err) {
      const id = err instanceof CycleError ? err.nodeId : null;
      return this.fail(result, emit, id, id ? prompt[id].class_type : null, err as Error);
    }

    let stopReason: string | undefined;
    const executedSet = new Set<string>();
    let currentNode: string | null = null;
    try {
      for (let iter = 0; iter < total && stopReason === undefined; iter++) {
        // A macrotask turn between iterations: nodes that await only settled promises never yield to
        // the event loop, so signals (Ctrl+C, SIGTERM), IPC interrupts and sockets would wait for the loop's end.
        if (iter > 0) await new Promise<void>((resolve) => setImmediate(resolve));
        const nonce = `${promptId}:${iter}:${randomUUID()}`;
        const keys = await computeKeys(prompt, order, this.registry, this.folders, nonce);
        const allKeys = [...keys.values()].map((k) => k.key);
        this.cache.pin(allKeys);
        if (iter === 0) {
          result.cached = order.filter((id) => this.cache.has(keys.get(id)!.key));
          emit({
            type: 'execution_cached',
            data: { prompt_id: promptId, nodes: result.cached, timestamp: Date.now() },
          });
        }
        const ephemeralKeys: string[] = [];
        try {
          for (const id of order) {
            if (signal.aborted) throw new InterruptedError();
            const node = prompt[id];
            const { key, ephemeral } = keys.get(id)!;
            const hit = this.cache.get(key);
            if (hit) {
              if (hit.ui && iter === 0) {
                result.outputs[id] = hit.ui;
                emit({
                  type: 'executed',
                  data: { prompt_id: promptId, node: id, display_node: id, output: hit.ui },
                });
              }
              continue;
            }
            currentNode = id;
            const def = this.registry.get(node.class_type)!;
            const inputs: Record<string, unknown> = {};
            for (const [name, v] of Object.entries(node.inputs)) {
              if (isLink(v)) {
                const up = this.cache.get(keys.get(v[0])!.key);
                if (!up) throw new Error(`internal: output of node ${v[0]} missing from the cache`);
                inputs[name] = up.outputs[v[1]];
              } else inputs[name] = v;
            }
            emit({ type: 'executing', data: { prompt_id: promptId, node: id, display_node: id } });
            let ui: UiOutput | undefined;
            const ctx: NodeContext = {
              nodeId: id,
              classType: node.class_type,
              promptId,
              signal,
              log: this.log,
              folders: this.folders,
              extra,
              prompt,
              state: this.stateFor(id, node.class_type),
              loop: {
                index: iter,
                total,
                stop: (reason?: string) => {
                  stopReason = reason ?? `stopped by node ${id}`;
                },
              },
              interruptionPoint: async () => {
                await new Promise<void>((resolve) => setImmediate(resolve));
                if (signal.aborted) throw new InterruptedError();
              },
              progress: (value: number, max: number, preview?: Preview) => {
                if (signal.aborted) throw new InterruptedError();
                emit({ type: 'progress', data: { prompt_id: promptId, node: id, value, max }, preview });
              },
              send: (type: string, data: Record<string, unknown>) => {
                emit({ type, data: { ...data, prompt_id: promptId, node: id } });
              },
              ui: (out: UiOutput) => {
                ui = { ...(ui ?? {}), ...out };
              },
            };
            let produced: Record<string, unknown>;
            try {
              produced = (await def.run(inputs, ctx)) as Record<string, unknown>;
            } catch (err) {
              if (err instanceof InterruptedError || signal.aborted) throw new InterruptedError();
              const e = err instanceof Error ? err : new Error(String(err));
              (e as Error & { inputs?: Record<string, unknown> }).inputs = inputs;
              throw new NodeExecutionError(id, node.class_type, e);
            }
            const outNames = Object.keys(def.outputs);
            if (outNames.length && (!produced || typeof produced !== 'object')) {
              throw new NodeExecutionError(
                id,
                node.class_type,
                new Error(`run() must return an object with outputs ${outNames.join(', ')}`),
              );
            }
            const values = outNames.map((n) => produced[n]);
            this.cache.set(key, values, ui);
            if (ephemeral) ephemeralKeys.push(key);
            if (!executedSet.has(id)) {
              executedSet.add(id);
              result.executed.push(id);
            }
            if (ui) {
              result.outputs[id] = ui;
              emit({
                type: 'executed',
                data: { prompt_id: promptId, node: id, display_node: id, output: ui },
              });
            }
          }
        } finally {
          this.releaseEphemeral(ephemeralKeys);
          this.cache.unpinAll();
        }
        result.iterations = iter + 1;
        if (total > 1 || stopReason) {
          emit({
            type: 'ddit.loop',
            data: {
              prompt_id: promptId,
              iteration: iter + 1,
              total,
              ...(stopReason ? { stopped: stopReason } : {}),
            },
          });
        }
      }
    } catch (err) {
      if (err instanceof InterruptedError) {
        result.status = 'interrupted';
        emit({
          type: 'execution_interrupted',
          data: {
            prompt_id: promptId,
            node_id: currentNode,
            node_type: currentNode ? prompt[currentNode].class_type : null,
            executed: result.executed,
            timestamp: Date.now(),
          },
        });
        result.error = {
          nodeId: currentNode,
          classType: currentNode ? prompt[currentNode].class_type : null,
          type: 'InterruptedError',
          message: 'Execution was interrupted',
          traceback: [],
        };
        emit({ type: 'executing', data: { prompt_id: promptId, node: null, display_node: null } });
        return result;
      }
      if (err instanceof NodeExecutionError) {
        return this.fail(result, emit, err.nodeId, err.classType, err.cause, prompt);
      }
      return this.fail(
        result,
        emit,
        currentNode,
        currentNode ? prompt[currentNode].class_type : null,
        err as Error,
      );
    }
    emit({ type: 'execution_success', data: { prompt_id: promptId, timestamp: Date.now() } });
    emit({ type: 'executing', data: { prompt_id: promptId, node: null, display_node: null } });
    return result;
  }

  private releaseEphemeral(keys: string[]): void {
    if (!keys.length) return;
    const protectedLeaves = this.stateLeaves();
    for (const k of keys) {
      const e = this.cache.get(k);
      if (!e) continue;
      // Values owned by a node's state (live weights, iterators) stay alive: detach them first.
      e.outputs = e.outputs.map((v) =>
        disposableLeaves(v).some((l) => protectedLeaves.has(l)) ? undefined : v,
      );
      this.cache.delete(k);
    }
  }

  private fail(
    result: RunResult,
    emit: EventSink,
    nodeId: string | null,
    classType: string | null,
    err: Error,
    prompt?: ApiPrompt,
  ): RunResult {
    const inputs = (err as Error & { inputs?: Record<string, unknown> }).inputs ?? {};
    const current_inputs: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(inputs)) current_inputs[k] = summarise(v);
    const traceback = (err.stack ?? '').split('\n').slice(0, 30);
    result.status = 'error';
    result.error = {
      nodeId,
      classType,
      type: err.name || 'Error',
      message: nodeId ? `Node ${nodeId} (${classType}): ${err.message}` : err.message,
      traceback,
    };
    emit({
      type: 'execution_error',
      data: {
        prompt_id: result.promptId,
        node_id: nodeId ?? '',
        node_type: classType ?? '',
        executed: result.executed,
        exception_message: result.error.message,
        exception_type: result.error.type,
        traceback,
        current_inputs,
        current_outputs: prompt ? Object.keys(result.outputs) : [],
        timestamp: Date.now(),
      },
    });
    emit({ type: 'executing', data: { prompt_id: result.promptId, node: null, display_node: null } });
    return result;
  }
}
