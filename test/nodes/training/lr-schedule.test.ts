import { learningRate, validateLrSchedule } from '../../../nodes/training/lr-schedule';

describe('learningRate', () => {
  const base = { lr: 1e-3, warmupSteps: 100, decaySteps: 1100, minLr: 1e-4 };

  it('holds the peak after the warm-up when constant', () => {
    expect([0, 50, 100, 5000].map((k) => learningRate({ ...base, schedule: 'constant' }, k))).toEqual([
      0, 5e-4, 1e-3, 1e-3,
    ]);
  });

  it('follows a half cosine from lr to min_lr between the warm-up and decay_steps, then stays at min_lr', () => {
    const cfg = { ...base, schedule: 'cosine' as const };
    expect(learningRate(cfg, 50)).toBeCloseTo(5e-4, 12);
    expect(learningRate(cfg, 100)).toBeCloseTo(1e-3, 12);
    // Halfway through the decay the cosine is at the midpoint of lr and min_lr.
    expect(learningRate(cfg, 600)).toBeCloseTo(5.5e-4, 12);
    // A quarter in: ½(1 + cos π/4) of the way from min_lr to lr.
    expect(learningRate(cfg, 350)).toBeCloseTo(1e-4 + 9e-4 * 0.5 * (1 + Math.SQRT1_2), 12);
    expect(learningRate(cfg, 1100)).toBeCloseTo(1e-4, 12);
    expect(learningRate(cfg, 50_000)).toBeCloseTo(1e-4, 12);
  });

  it('falls on a line for the linear schedule and never rises', () => {
    const cfg = { ...base, schedule: 'linear' as const };
    expect(learningRate(cfg, 600)).toBeCloseTo(5.5e-4, 12);
    expect(learningRate(cfg, 850)).toBeCloseTo(1e-3 - 9e-4 * 0.75, 12);
    const rates = Array.from({ length: 1200 }, (_, k) => learningRate(cfg, 100 + k));
    for (let i = 1; i < rates.length; i++) expect(rates[i]).toBeLessThanOrEqual(rates[i - 1]);
  });

  it('decays from the first step when there is no warm-up', () => {
    const cfg = { lr: 0.1, warmupSteps: 0, schedule: 'linear' as const, decaySteps: 10 };
    expect([0, 5, 10].map((k) => learningRate(cfg, k))).toEqual([0.1, 0.05, 0]);
  });

  it('holds lr until decay_start, then decays to min_lr at decay_steps (a warm restart of a continued run)', () => {
    const cfg = { ...base, schedule: 'cosine' as const, decayStart: 600 };
    expect(learningRate(cfg, 100)).toBeCloseTo(1e-3, 12);
    expect(learningRate(cfg, 600)).toBeCloseTo(1e-3, 12);
    expect(learningRate(cfg, 850)).toBeCloseTo(5.5e-4, 12);
    expect(learningRate(cfg, 1100)).toBeCloseTo(1e-4, 12);
    // a start inside the warm-up is the end of the warm-up
    const early = { ...base, schedule: 'linear' as const };
    expect(learningRate({ ...early, decayStart: 20 }, 600)).toBe(learningRate(early, 600));
  });

  it('names the setting that is wrong', () => {
    expect(() => validateLrSchedule({ ...base, schedule: 'cosine', decayStart: 1100 })).toThrow(
      /decay_start must be an integer below decay_steps \(1100\), got 1100/,
    );
    expect(() => validateLrSchedule({ lr: 1e-3, warmupSteps: 0, schedule: 'step' as never })).toThrow(
      /schedule must be one of constant, cosine, linear, got "step"/,
    );
    expect(() =>
      validateLrSchedule({ lr: 1e-3, warmupSteps: 200, schedule: 'cosine', decaySteps: 0 }),
    ).toThrow(/decay_steps must be an integer above warmup_steps \(200\)/);
    expect(() => validateLrSchedule({ ...base, schedule: 'cosine', minLr: 2e-3 })).toThrow(
      /min_lr must lie in/,
    );
    expect(() => validateLrSchedule({ lr: 1e-3, warmupSteps: 200, schedule: 'constant' })).not.toThrow();
  });
});
