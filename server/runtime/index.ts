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
 *
 * ONNX (onnxruntime-node; CPU with intra-op threads = cores, sequential, optimisation 'all'; CUDA provider when
 * installed, `DDIT_ONNX_DEVICE=cpu|cuda|auto`, `DDIT_ONNX_THREADS=n`):
 * - `OnnxModel.load(pathOrBytes, {device, threads, label})` → `model.inputs/outputs` (names, types, symbolic
 *   shapes), `await model.run({name: tfTensor}, outputNames?)` → `{name: tfTensor}` (caller disposes; int32 is
 *   fed to int64 inputs, float32 to float16 ones as declared), `model.provider`, `model.byteSize`, `dispose()`.
 * - Contracts for models "given as .onnx" (docs/onnx-models.md): `VAE_DECODER_CONTRACT` (input `latent`
 *   [B,h,w,C] NHWC float32 in DiT latent space → output `image` [B,H,W,3] NHWC in [0,1]),
 *   `assertContract(model, contract)`.
 * - `OnnxVaeDecoder.load(pathOrBytes)`: `decode(latent: Tensor4D) → Promise<Tensor4D>`, `latentChannels`,
 *   `byteSize`, `dispose()` — the VaeLike shape the sampling nodes take, so a node can hold either runtime.
 * - `onnxRuntimeInfo()` {version, providers, cuda, threads}; `toOrtTensor` / `fromOrtTensor` conversions.
 * test/helpers/onnx-tiny.ts builds tiny ONNX graphs (e.g. a contract-conforming decoder) for tests.
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
export {
  OnnxModel,
  OnnxVaeDecoder,
  OnnxError,
  VAE_DECODER_CONTRACT,
  assertContract,
  onnxRuntimeInfo,
  toOrtTensor,
  fromOrtTensor,
} from './onnx';
export type {
  OnnxDevice,
  OnnxSessionOptions,
  OnnxValueInfo,
  OnnxValueSpec,
  OnnxContract,
  OnnxRuntimeInfo,
} from './onnx';
