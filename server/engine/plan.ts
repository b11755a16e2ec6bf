import type { ApiPrompt } from './types';
import { isLink } from './validate';

export class CycleError extends Error {
  constructor(readonly nodeId: string) {
    super(`The graph has a dependency cycle through node ${nodeId}`);
  }
}

/** Ids of the nodes a node's inputs link to. */
export function upstreamOf(prompt: ApiPrompt, id: string): string[] {
  const ups: string[] = [];
  for (const v of Object.values(prompt[id].inputs)) if (isLink(v)) ups.push(v[0]);
  return ups;
}

/**
 * The nodes needed by `targets` (ancestors only), in dependency order. Siblings keep the order in
 * which the targets and their inputs were declared, so runs are reproducible.
 */
export function planExecution(prompt: ApiPrompt, targets: string[]): string[] {
  const order: string[] = [];
  const state = new Map<string, 1 | 2>(); // 1 = on the stack, 2 = done
  const visit = (root: string): void => {
    // Iterative DFS: a 10 000-node chain must not overflow the stack.
    const stack: [string, number][] = [[root, 0]];
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [id, i] = top;
      if (i === 0) {
        if (state.get(id) === 2) {
          stack.pop();
          continue;
        }
        state.set(id, 1);
      }
      const ups = upstreamOf(prompt, id);
      if (i < ups.length) {
        top[1]++;
        const u = ups[i];
        const s = state.get(u);
        if (s === 1) throw new CycleError(u);
        if (s !== 2) stack.push([u, 0]);
        continue;
      }
      state.set(id, 2);
      order.push(id);
      stack.pop();
    }
  };
  for (const t of targets) visit(t);
  return order;
}
