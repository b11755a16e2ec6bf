/**
 * Public face of the tensor runtime. Import tensors and weight files from here (not from '@tensorflow/tfjs'),
 * so every module shares one tfjs engine.
 *
 * - `tf`: the tfjs namespace.
 * - safetensors: `loadSafetensors(path)` / `saveSafetensors(path, tensors, {dtype, metadata})` (atomic),
 *   `SafetensorsFile.open(path)` to list names/shapes and read single tensors, buffer variants
 *   `loadSafetensorsBuffer` / `saveSafetensorsBuffer`, raw typed-array layer `decodeSafetensors` /
 *   `encodeSafetensors`. F16/BF16 load as float32 tensors; saving float32 as F16/BF16 rounds to nearest even.
 * - half: bit-exact float16/bfloat16 conversions.
 */
export { tf } from './tf';
export * from './safetensors';
export * from './half';
