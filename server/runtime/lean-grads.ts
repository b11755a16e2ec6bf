/**
 * tf.variableGrads with the memory of a PyTorch backward pass. tfjs keeps every intermediate gradient, and every
 * tensor the forward pass saved for the backward pass, until the whole backward pass ends, so the peak holds
 * all activations plus all of their gradients. Here each tape node's output gradients and saved tensors are
 * freed as soon as that node's own gradients have been computed (the tape is walked in reverse, so nothing
 * later needs them). The numbers are identical; only the lifetime of tensors changes.
 *
 * It works through tfjs-core's Engine.addTapeNode (tfjs 4.x): every recorded node's gradient function is
 * wrapped while the call runs, and the original is restored afterwards.
 */
import { tf } from './tf';

type Tensor = tf.Tensor;
type Thunks = Record<string, () => Tensor>;

interface TapeNode {
  saved?: Tensor[];
  gradient?: (dys: Array<Tensor | null>) => Thunks;
}

interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  addTapeNode(...args: unknown[]): void;
}

/** Frees the tensors of the node processed last, once the backward pass has moved past it. */
class ReleaseQueue {
  /** How often each tensor object was handed out as an input's gradient: one handed out twice may sit in
   *  two places of the backward pass's gradient map. */
  private readonly handedOut = new Map<Tensor, number>();
  private pending: { dys: Tensor[]; saved: Tensor[]; passedOn: Set<Tensor> } | null = null;

  wrap(node: TapeNode): void {
    const gradient = node.gradient;
    if (!gradient) return;
    node.gradient = (dys) => {
      this.flush();
      const thunks = gradient(dys);
      const entry = {
        dys: dys.filter((d): d is Tensor => d != null),
        saved: node.saved ?? [],
        passedOn: new Set<Tensor>(),
      };
      const wrapped: Thunks = {};
      for (const [name, thunk] of Object.entries(thunks)) {
        wrapped[name] = () => {
          const dx = thunk();
          entry.passedOn.add(dx);
          this.handedOut.set(dx, (this.handedOut.get(dx) ?? 0) + 1);
          return dx;
        };
      }
      this.pending = entry;
      return wrapped;
    };
  }

  /** Frees the last node's output gradients (except one it passed on unchanged as an input's gradient, or one
   *  that is shared) and the tensors it saved. */
  private flush(): void {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    for (const dy of p.dys) if (!p.passedOn.has(dy) && (this.handedOut.get(dy) ?? 0) <= 1) dy.dispose();
    // A saved tensor handed out as a gradient as it is stays (the gradient map holds it).
    for (const t of p.saved) if (!this.handedOut.has(t)) t.dispose();
  }
}

/**
 * Same contract as tf.variableGrads(f, varList): the value of f and the gradient of each trainable variable
 * (or of those in varList).
 */
export function leanVariableGrads(
  f: () => tf.Scalar,
  varList?: tf.Variable[],
): { value: tf.Scalar; grads: tf.NamedTensorMap } {
  const engine = tf.engine() as unknown as EngineInternals;
  // Nested gradients (higher order) need the tape intact.
  if (engine.state.gradientDepth > 0) return tf.variableGrads(f, varList);
  const queue = new ReleaseQueue();
  const original = engine.addTapeNode;
  engine.addTapeNode = function (this: EngineInternals, ...args: unknown[]): void {
    original.apply(this, args);
    const tape = this.state.activeTape;
    if (tape && tape.length) queue.wrap(tape[tape.length - 1]);
  };
  try {
    return tf.variableGrads(f, varList);
  } finally {
    engine.addTapeNode = original;
  }
}
