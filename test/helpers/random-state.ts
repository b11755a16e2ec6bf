/**
 * Fills a Module with random weights in every parameter (none of the zero initialisations), so that
 * comparisons between two implementations exercise every path.
 */
import { tf } from '../../server/runtime/tf';
import { type Module, torchShape } from '../../server/runtime/nn';

export function randomizeModule<M extends Module>(model: M, seed: number, std = 0.3): M {
  const state = new Map<string, tf.Tensor>();
  model
    .namedParameters()
    .forEach(([name, p], i) =>
      state.set(name, tf.randomNormal(torchShape(p.shape, p.layout), 0, std, 'float32', seed * 1000 + i)),
    );
  try {
    model.loadState(state);
  } finally {
    state.forEach((t) => t.dispose());
  }
  return model;
}

export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  if (a.shape.join() !== b.shape.join()) throw new Error(`shapes differ: [${a.shape}] vs [${b.shape}]`);
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}
