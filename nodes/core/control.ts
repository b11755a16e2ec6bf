import { defineNode } from '../../server/engine/define-node';
import { InterruptedError } from '../../server/engine/errors';

export const Delay = defineNode({
  type: 'Delay',
  category: 'utils/control',
  description:
    'Waits the given milliseconds (reporting progress), then passes its input on. For pacing and testing.',
  inputs: {
    value: { type: '*', optional: true },
    milliseconds: { type: 'INT', default: 1000, min: 0, max: 3_600_000 },
  },
  outputs: { value: { type: '*' } },
  async run({ value, milliseconds }, ctx) {
    const ticks = Math.max(1, Math.min(100, Math.ceil(milliseconds / 20)));
    for (let i = 0; i < ticks; i++) {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, milliseconds / ticks);
        ctx.signal.addEventListener(
          'abort',
          () => {
            clearTimeout(t);
            reject(new InterruptedError());
          },
          { once: true },
        );
      });
      ctx.progress(i + 1, ticks);
    }
    return { value };
  },
});

export const Counter = defineNode({
  type: 'Counter',
  category: 'utils/control',
  description:
    'Counts the times it ran, in node state that lasts across loop iterations and runs. Volatile: reruns every iteration.',
  volatile: true,
  inputs: {
    start: { type: 'INT', default: 0, min: -(2 ** 53 - 1), max: 2 ** 53 - 1 },
    step: { type: 'INT', default: 1, min: -(2 ** 53 - 1), max: 2 ** 53 - 1 },
    stop_at: {
      type: 'INT',
      default: -1,
      min: -1,
      max: 2 ** 53 - 1,
      tooltip: 'End a loop when the count reaches this (-1: never)',
    },
  },
  outputs: { count: { type: 'INT' } },
  run({ start, step, stop_at }, ctx) {
    const prev = ctx.state.get('count') as number | undefined;
    const count = prev === undefined ? start : prev + step;
    ctx.state.set('count', count);
    if (stop_at >= 0 && count >= stop_at) ctx.loop.stop(`count reached ${stop_at}`);
    return { count };
  },
});

export const RandomInt = defineNode({
  type: 'RandomInt',
  displayName: 'Random Integer',
  category: 'utils/math',
  description: 'A fresh random whole number in [min, max] on every run (volatile).',
  volatile: true,
  inputs: { min: { type: 'INT', default: 0 }, max: { type: 'INT', default: 100 } },
  outputs: { value: { type: 'INT' } },
  validate: ({ min, max }) =>
    min !== undefined && max !== undefined && min > max ? 'min must not exceed max' : undefined,
  run: ({ min, max }) => ({ value: min + Math.floor(Math.random() * (max - min + 1)) }),
});
