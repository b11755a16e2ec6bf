/**
 * Public face of the tensor runtime. Import tensors, backends and weight files from here (never from
 * '@tensorflow/tfjs' directly), so every module shares one tfjs engine.
 *
 * Backend
 * - `await initRuntime(opts?)`: picks and starts the backend once (tfjs-node-gpu → tfjs-node → wasm → cpu, each
 *   only if installed; `DDIT_BACKEND=tensorflow|wasm|cpu` forces one, `DDIT_THREADS=n` sets wasm threads,
 *   default every core). Also registers the missing wasm kernels (conv2d filter gradient, gather gradient, fast
 *   slices) and the engine value hooks (tf.Tensor outputs are sized and disposed by the engine cache).
 * - `runtimeInfo()`: {backend, package, threads, tfjsVersion, device, nativeKernels, fallbacks} for
 *   /system_stats and the CLI.
 * - `shutdownRuntime()`: stops wasm threads and frees the heap (tests do this automatically through the jest
 *   environment; scripts need not call it: pool threads do not keep the process alive).
 * - `withBackend(name, fn)`: run fn on another backend (e.g. 'cpu' as a reference).
 * - `tf`: the tfjs namespace.
 *
 * Memory: `tensorBytes`, `liveTensors`, `countNewTensors(fn)`, `tensorGrowthPerRun(fn)` (leak checks: 0 = none),
 * `expectNoTensorLeak(label, fn)`, `countTensors(value)`.
 *
 * safetensors: `loadSafetensors(path)` / `saveSafetensors(path, tensors, {dtype, metadata})` (atomic),
 * `SafetensorsFile.open(path)` to list names/shapes and read single tensors, buffer variants
 * `loadSafetensorsBuffer` / `saveSafetensorsBuffer`, raw typed-array layer `decodeSafetensors` /
 * `encodeSafetensors`. F16/BF16 load as float32 tensors; saving float32 as F16/BF16 rounds to nearest even.
 * half: bit-exact float16/bfloat16 conversions.
 */
export { tf } from './tf';
export type { Tensor } from './tf';
export {
  initRuntime,
  runtimeInfo,
  shutdownRuntime,
  withBackend,
  backendFromEnv,
  threadsFromEnv,
  BACKEND_NAMES,
} from './backend';
export type { BackendName, RuntimeInfo, RuntimeOptions } from './backend';
export {
  tensorBytes,
  liveTensors,
  countNewTensors,
  tensorGrowthPerRun,
  expectNoTensorLeak,
  countTensors,
  tensorValueHooks,
} from './memory';
export type { TensorDelta } from './memory';
export * from './safetensors';
export * from './half';
