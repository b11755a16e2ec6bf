/**
 * Engine overhead: per-node dispatch on a 200-node chain of trivial nodes (cache cleared each run),
 * and a fully cached re-run of the same chain. Prints medians over repeats.
 */
import { createEngine } from '../../server/engine';
import type { ApiPrompt } from '../../server/engine';

function chain(n: number): ApiPrompt {
  const p: ApiPrompt = { '0': { class_type: 'Int', inputs: { value: 1 } } };
  for (let i = 1; i < n; i++)
    p[String(i)] = { class_type: 'IntMath', inputs: { a: [String(i - 1), 0], b: 1, op: 'add' } };
  p.out = { class_type: 'ToString', inputs: { value: [String(n - 1), 0] } };
  p.show = { class_type: 'ShowText', inputs: { text: ['out', 0] } };
  return p;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const N = 200;
  const engine = createEngine({ log: { info() {}, warn() {}, error() {}, debug() {} } });
  const prompt = chain(N);
  const nodes = Object.keys(prompt).length;
  for (let i = 0; i < 20; i++) {
    engine.cache.clear();
    await engine.execute(prompt);
  }
  const cold: number[] = [];
  const cached: number[] = [];
  const validateOnly: number[] = [];
  for (let i = 0; i < 50; i++) {
    engine.cache.clear();
    let t = process.hrtime.bigint();
    const r = await engine.execute(prompt);
    cold.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (r.executed.length !== nodes) throw new Error('expected a full run');
    t = process.hrtime.bigint();
    const again = await engine.execute(prompt);
    cached.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (again.executed.length !== 0) throw new Error('expected a fully cached run');
    t = process.hrtime.bigint();
    engine.validate(prompt);
    validateOnly.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const perNode = (median(cold) * 1000) / nodes;
  console.log(`engine: ${nodes}-node chain of trivial nodes (median of 50)`);
  console.log(
    `  full run            ${median(cold).toFixed(2)} ms  → ${perNode.toFixed(1)} µs per node (target < 50 µs)`,
  );
  console.log(`  fully cached re-run ${median(cached).toFixed(2)} ms (target < 5 ms)`);
  console.log(`  validation alone    ${median(validateOnly).toFixed(2)} ms`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
