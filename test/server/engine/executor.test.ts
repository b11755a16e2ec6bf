import { defineNode, InterruptedError } from '../../../server/engine';
import type { ApiPrompt } from '../../../server/engine';
import { Blob_, collect, makeEngine } from './helpers';

const chain = (a: number, b: number, op = 'add'): ApiPrompt => ({
  '1': { class_type: 'Int', inputs: { value: a } },
  '2': { class_type: 'Int', inputs: { value: b } },
  '3': { class_type: 'IntMath', inputs: { a: ['1', 0], b: ['2', 0], op } },
  '4': { class_type: 'ToString', inputs: { value: ['3', 0] } },
  '5': { class_type: 'ShowText', inputs: { text: ['4', 0] } },
  '9': { class_type: 'String', inputs: { text: 'not needed by any output' } },
});

describe('Engine execution', () => {
  test('runs only what outputs need, in dependency order, and returns UI outputs', async () => {
    const engine = makeEngine();
    const c = collect();
    const r = await engine.execute(chain(2, 3), { onEvent: c.onEvent });
    expect(r.status).toBe('success');
    expect(r.outputs['5']).toEqual({ text: ['5'] });
    expect(r.executed).toEqual(['1', '2', '3', '4', '5']);
    expect(c.types()).toEqual([
      'execution_start',
      'execution_cached',
      'executing',
      'executing',
      'executing',
      'executing',
      'executing',
      'executed',
      'execution_success',
      'executing',
    ]);
    const executing = c.events
      .filter((e) => e.type === 'executing')
      .map((e) => (e.data as { node: string | null }).node);
    expect(executing).toEqual(['1', '2', '3', '4', '5', null]);
  });

  test('an unchanged rerun executes nothing and replays outputs; one widget change reruns only its dependents', async () => {
    const engine = makeEngine();
    await engine.execute(chain(2, 3));
    const c = collect();
    const again = await engine.execute(chain(2, 3), { onEvent: c.onEvent });
    expect(again.executed).toEqual([]);
    expect(again.cached).toEqual(['1', '2', '3', '4', '5']);
    expect(again.outputs['5']).toEqual({ text: ['5'] });
    expect(c.events.find((e) => e.type === 'executed')).toBeDefined();
    const changed = await engine.execute(chain(2, 4));
    expect(changed.executed).toEqual(['2', '3', '4', '5']);
    expect(changed.outputs['5']).toEqual({ text: ['6'] });
  });

  test('cache keys are structural: the same graph under other ids hits the cache', async () => {
    const engine = makeEngine();
    await engine.execute(chain(5, 5));
    const renamed: ApiPrompt = {
      a: { class_type: 'Int', inputs: { value: 5 } },
      b: { class_type: 'Int', inputs: { value: 5 } },
      c: { class_type: 'IntMath', inputs: { a: ['a', 0], b: ['b', 0], op: 'add' } },
      d: { class_type: 'ToString', inputs: { value: ['c', 0] } },
      e: { class_type: 'ShowText', inputs: { text: ['d', 0] } },
    };
    const r = await engine.execute(renamed);
    expect(r.executed).toEqual([]);
    expect(r.outputs.e).toEqual({ text: ['10'] });
  });

  test('volatile nodes and everything downstream rerun every time', async () => {
    const engine = makeEngine();
    const p: ApiPrompt = {
      '1': { class_type: 'RandomInt', inputs: { min: 0, max: 1e9 } },
      '2': { class_type: 'Int', inputs: { value: 1 } },
      '3': { class_type: 'IntMath', inputs: { a: ['1', 0], b: ['2', 0], op: 'add' } },
      '4': { class_type: 'ToString', inputs: { value: ['3', 0] } },
      '5': { class_type: 'ShowText', inputs: { text: ['4', 0] } },
    };
    await engine.execute(p);
    const r = await engine.execute(p);
    expect(r.executed).toEqual(['1', '3', '4', '5']);
  });

  test('fingerprint changes force a rerun', async () => {
    let version = 1;
    const Loader = defineNode({
      type: 'TestVersioned',
      category: 'test',
      description: 'A loader whose file version is its fingerprint.',
      inputs: { name: { type: 'STRING', default: 'x' } },
      outputs: { text: { type: 'STRING' } },
      fingerprint: () => version,
      run: ({ name }) => ({ text: `${name}@${version}` }),
    });
    const engine = makeEngine([Loader]);
    const p: ApiPrompt = {
      '1': { class_type: 'TestVersioned', inputs: { name: 'ckpt' } },
      '2': { class_type: 'ShowText', inputs: { text: ['1', 0] } },
    };
    expect((await engine.execute(p)).outputs['2']).toEqual({ text: ['ckpt@1'] });
    expect((await engine.execute(p)).executed).toEqual([]);
    version = 2;
    const r = await engine.execute(p);
    expect(r.executed).toEqual(['1', '2']);
    expect(r.outputs['2']).toEqual({ text: ['ckpt@2'] });
  });

  test('interruption mid-node stops the run and leaves the engine usable', async () => {
    const engine = makeEngine();
    const p: ApiPrompt = {
      '1': { class_type: 'String', inputs: { text: 'slow' } },
      '2': { class_type: 'Delay', inputs: { value: ['1', 0], milliseconds: 5000 } },
      '3': { class_type: 'ShowText', inputs: { text: ['2', 0] } },
    };
    const ac = new AbortController();
    const c = collect();
    const started = Date.now();
    const pending = engine.execute(p, { signal: ac.signal, onEvent: c.onEvent });
    setTimeout(() => ac.abort(), 150);
    const r = await pending;
    expect(r.status).toBe('interrupted');
    expect(Date.now() - started).toBeLessThan(4000);
    const ev = c.events.find((e) => e.type === 'execution_interrupted');
    expect(ev?.data).toMatchObject({ node_id: '2', node_type: 'Delay' });
    expect(c.types()).toContain('progress');
    const ok = await engine.execute({
      ...p,
      '2': { class_type: 'Delay', inputs: { value: ['1', 0], milliseconds: 10 } },
    });
    expect(ok.status).toBe('success');
    expect(ok.outputs['3']).toEqual({ text: ['slow'] });
  });

  test('progress() throws InterruptedError once aborted', async () => {
    let thrown: unknown;
    const Ticker = defineNode({
      type: 'TestTicker',
      category: 'test',
      description: 'Reports progress after the signal fired.',
      output: true,
      inputs: {},
      outputs: {},
      run: (_i, ctx) => {
        try {
          ctx.progress(1, 2);
        } catch (e) {
          thrown = e;
          throw e;
        }
        return {};
      },
    });
    const engine = makeEngine([Ticker]);
    const ac = new AbortController();
    ac.abort();
    // Aborted before start: the engine stops before the node.
    expect(
      (await engine.execute({ '1': { class_type: 'TestTicker', inputs: {} } }, { signal: ac.signal })).status,
    ).toBe('interrupted');
    const ac2 = new AbortController();
    const Aborter = defineNode({
      type: 'TestAborter',
      category: 'test',
      description: 'Aborts its own run, then reports progress.',
      inputs: {},
      outputs: { text: { type: 'STRING' } },
      run: (_i, ctx) => {
        ac2.abort();
        try {
          ctx.progress(1, 2);
        } catch (e) {
          thrown = e;
          throw e;
        }
        return { text: 'unreachable' };
      },
    });
    engine.registry.register(Aborter, 'test2');
    const r = await engine.execute(
      {
        '1': { class_type: 'TestAborter', inputs: {} },
        '2': { class_type: 'ShowText', inputs: { text: ['1', 0] } },
      },
      { signal: ac2.signal },
    );
    expect(r.status).toBe('interrupted');
    expect(thrown).toBeInstanceOf(InterruptedError);
  });

  test('interruptionPoint() lets a timer abort a loop of synchronous work mid-node', async () => {
    const busy = (ms: number) => {
      const end = Date.now() + ms;
      while (Date.now() < end);
    };
    let steps = 0;
    const make = (yielding: boolean) =>
      defineNode({
        type: yielding ? 'TestYieldingLoop' : 'TestBlockingLoop',
        category: 'test',
        description: 'Forty steps of 5 ms of synchronous work, as a tfjs sampler does.',
        output: true,
        inputs: {},
        outputs: {},
        run: async (_i, ctx) => {
          for (steps = 0; steps < 40; steps++) {
            if (yielding) await ctx.interruptionPoint();
            busy(5);
          }
          return {};
        },
      });
    const engine = makeEngine([make(true), make(false)]);
    const run = async (type: string) => {
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 30);
      const r = await engine.execute({ '1': { class_type: type, inputs: {} } }, { signal: ac.signal });
      return { status: r.status, steps };
    };
    // without a turn of the event loop the timer cannot fire until the node has finished
    expect(await run('TestBlockingLoop')).toEqual({ status: 'success', steps: 40 });
    const r = await run('TestYieldingLoop');
    expect(r.status).toBe('interrupted');
    expect(r.steps).toBeLessThan(40);
  });

  test('an error in one node reports node, class and inputs, and the next run works', async () => {
    const engine = makeEngine();
    const c = collect();
    const bad = await engine.execute(chain(1, 0, 'divide'), { onEvent: c.onEvent });
    expect(bad.status).toBe('error');
    expect(bad.error?.message).toBe("Node 3 (IntMath): input 'b': division by zero");
    const ev = c.events.find((e) => e.type === 'execution_error')!.data as Record<string, unknown>;
    expect(ev).toMatchObject({ node_id: '3', node_type: 'IntMath', exception_type: 'Error' });
    expect(ev.current_inputs).toEqual({ a: 1, b: 0, op: 'divide' });
    expect(ev.executed).toEqual(['1', '2']);
    const good = await engine.execute(chain(1, 2, 'divide'));
    expect(good.status).toBe('success');
    expect(good.outputs['5']).toEqual({ text: ['0'] });
  });

  test('partial execution: only the requested output and its ancestors', async () => {
    const engine = makeEngine();
    const p: ApiPrompt = {
      ...chain(1, 1),
      '6': { class_type: 'String', inputs: { text: 'other' } },
      '7': { class_type: 'ShowText', inputs: { text: ['6', 0] } },
    };
    const r = await engine.execute(p, { targets: ['7'] });
    expect(r.executed).toEqual(['6', '7']);
  });

  test('the cache is bounded by entries and bytes and frees what it evicts', async () => {
    const engine = makeEngine();
    engine.cache.limits = { maxEntries: 1000, maxBytes: 10_000 };
    const start = Blob_.live;
    for (let i = 0; i < 20; i++) {
      const r = await engine.execute({
        '1': { class_type: 'TestBlob', inputs: { bytes: 3000, tag: `run${i}` } },
        '2': { class_type: 'TestBlobSize', inputs: { blob: ['1', 0] } },
      });
      expect(r.status).toBe('success');
    }
    expect(engine.cache.totalBytes).toBeLessThanOrEqual(10_000);
    expect(Blob_.live - start).toBeLessThanOrEqual(3);
    engine.cache.limits = { maxEntries: 5, maxBytes: 1e12 };
    for (let i = 0; i < 10; i++) await engine.execute(chain(i, i));
    expect(engine.cache.size).toBeLessThanOrEqual(5);
  });

  test('a value passed through by two nodes is freed only when both entries are gone', async () => {
    const Pass = defineNode({
      type: 'TestPass',
      category: 'test',
      description: 'Returns its input unchanged.',
      inputs: { blob: { type: 'BLOB' } },
      outputs: { blob: { type: 'BLOB' } },
      run: ({ blob }) => ({ blob }),
    });
    const engine = makeEngine([Pass]);
    const p: ApiPrompt = {
      '1': { class_type: 'TestBlob', inputs: { bytes: 10, tag: 'shared' } },
      '2': { class_type: 'TestPass', inputs: { blob: ['1', 0] } },
      '3': { class_type: 'TestBlobSize', inputs: { blob: ['2', 0] } },
    };
    await engine.execute(p);
    const before = Blob_.live;
    engine.cache.limits = { maxEntries: 2, maxBytes: 1e12 }; // evicts the producer's entry only
    await engine.execute({
      x: { class_type: 'Int', inputs: { value: 1 } },
      y: { class_type: 'ToString', inputs: { value: ['x', 0] } },
      z: { class_type: 'ShowText', inputs: { text: ['y', 0] } },
    });
    engine.cache.clear();
    expect(Blob_.live).toBe(before - 1);
  });
});
