import { defineNode } from '../../../server/engine';
import type { ApiPrompt } from '../../../server/engine';
import { collect, makeEngine } from './helpers';

/** A stateful accumulator like a training step: adds its input to a running total kept in node state. */
const Accumulate = defineNode({
  type: 'TestAccumulate',
  category: 'test',
  description: 'Adds x to a total held in node state; volatile like an optimiser step.',
  volatile: true,
  output: true,
  inputs: { x: { type: 'INT' }, until: { type: 'INT', default: -1, min: -1 } },
  outputs: { total: { type: 'INT' } },
  run: ({ x, until }, ctx) => {
    const total = ((ctx.state.get('total') as number) ?? 0) + x;
    ctx.state.set('total', total);
    ctx.ui({ total: [total] });
    if (until >= 0 && total >= until) ctx.loop.stop(`total reached ${until}`);
    return { total };
  },
});

let loads = 0;
const ExpensiveLoad = defineNode({
  type: 'TestExpensiveLoad',
  category: 'test',
  description: 'Counts how often it really runs (a model loader).',
  inputs: { value: { type: 'INT', default: 3 } },
  outputs: { value: { type: 'INT' } },
  run: ({ value }) => {
    loads++;
    return { value };
  },
});

const graph = (until = -1): ApiPrompt => ({
  '1': { class_type: 'TestExpensiveLoad', inputs: { value: 3 } },
  '2': { class_type: 'TestAccumulate', inputs: { x: ['1', 0], until } },
});

describe('looped workflows', () => {
  test('iterations rerun volatile nodes with state kept, while cached nodes run once', async () => {
    const engine = makeEngine([Accumulate, ExpensiveLoad]);
    loads = 0;
    const c = collect();
    const r = await engine.execute(graph(), { extra: { loop: { iterations: 5 } }, onEvent: c.onEvent });
    expect(r.status).toBe('success');
    expect(r.iterations).toBe(5);
    expect(loads).toBe(1);
    expect(r.outputs['2']).toEqual({ total: [15] });
    const loopEvents = c.events
      .filter((e) => e.type === 'ddit.loop')
      .map((e) => (e.data as { iteration: number }).iteration);
    expect(loopEvents).toEqual([1, 2, 3, 4, 5]);
    // A single stream: one start and one success for the whole run.
    expect(c.types().filter((t) => t === 'execution_start')).toHaveLength(1);
    expect(c.types().filter((t) => t === 'execution_success')).toHaveLength(1);
  });

  test('state survives into a later run of the same node (resuming a loop)', async () => {
    const engine = makeEngine([Accumulate, ExpensiveLoad]);
    await engine.execute(graph(), { loop: { iterations: 2 } });
    const r = await engine.execute(graph(), { loop: { iterations: 2 } });
    expect(r.outputs['2']).toEqual({ total: [12] });
  });

  test('a node can end the loop early', async () => {
    const engine = makeEngine([Accumulate, ExpensiveLoad]);
    const c = collect();
    const r = await engine.execute(graph(7), { loop: { iterations: 100 }, onEvent: c.onEvent });
    expect(r.iterations).toBe(3);
    const last = c.events.filter((e) => e.type === 'ddit.loop').pop()!;
    expect(last.data).toMatchObject({ iteration: 3, stopped: 'total reached 7' });
  });

  test('the Counter core node counts iterations', async () => {
    const engine = makeEngine();
    const p: ApiPrompt = {
      '1': { class_type: 'Counter', inputs: { start: 1, step: 1, stop_at: -1 } },
      '2': { class_type: 'ToString', inputs: { value: ['1', 0] } },
      '3': { class_type: 'ShowText', inputs: { text: ['2', 0] } },
    };
    const r = await engine.execute(p, { loop: { iterations: 4 } });
    expect(r.outputs['3']).toEqual({ text: ['4'] });
  });

  test('interrupting a loop stops between iterations with state intact', async () => {
    const engine = makeEngine([Accumulate, ExpensiveLoad]);
    const ac = new AbortController();
    const c = collect();
    let seen = 0;
    const r = await engine.execute(graph(), {
      loop: { iterations: 1000 },
      signal: ac.signal,
      onEvent: (e) => {
        c.onEvent(e);
        if (e.type === 'ddit.loop' && ++seen === 3) ac.abort();
      },
    });
    expect(r.status).toBe('interrupted');
    expect(r.iterations).toBe(3);
    const again = await engine.execute(graph(), { loop: { iterations: 1 } });
    expect(again.outputs['2']).toEqual({ total: [12] });
  });

  test('a loop of nodes that never yield still lets timers and signals in between iterations', async () => {
    // The abort comes from a macrotask, as a signal handler, an IPC message or a socket does.
    const engine = makeEngine([Accumulate, ExpensiveLoad]);
    const ac = new AbortController();
    setImmediate(() => ac.abort());
    const r = await engine.execute(graph(), { loop: { iterations: 100_000 }, signal: ac.signal });
    expect(r.status).toBe('interrupted');
    expect(r.iterations).toBeLessThan(10);
  });
});
