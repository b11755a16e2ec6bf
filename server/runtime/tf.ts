/**
 * The single tfjs namespace of the process. Every module takes tf from here (or from server/runtime/index.ts),
 * so all tensors live in one engine whatever backend initRuntime() picks.
 */
import * as tf from '@tensorflow/tfjs';

// PROD skips debug-only checks and the console banner suggesting tfjs-node, which initRuntime() handles itself.
tf.env().set('PROD', true);

export { tf };
export type Tensor = tf.Tensor;
