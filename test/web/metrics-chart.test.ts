import { MetricsHistory, formatMetric, project } from '../../web/src/metrics-chart';
import { typeColor } from '../../web/src/type-colors';

describe('training chart', () => {
  test('bounds cover every loss from 0, lr on its own scale', () => {
    const h = new MetricsHistory();
    h.push({ step: 1, loss: 3, loss_img: 1, loss_txt: 2, lr: 1e-4 });
    h.push({ step: 5, loss: 2, loss_img: 0.5, loss_txt: 1.5, lr: 5e-4 });
    expect(h.bounds()).toEqual({ step: [1, 5], loss: [0, 3], lr: [0, 5e-4] });
    expect(h.latest?.step).toBe(5);
  });

  test('a restarted run starts a new chart; long runs are thinned', () => {
    const h = new MetricsHistory(10);
    for (let s = 1; s <= 25; s++) h.push({ step: s, loss: 1 / s });
    expect(h.points.length).toBeLessThanOrEqual(10);
    expect(h.latest?.step).toBe(25);
    h.push({ step: 1, loss: 5 });
    expect(h.points.map((p) => p.step)).toEqual([1]);
  });

  test('projection and labels', () => {
    expect(project(5, 1.5, [0, 10], [0, 3], 100, 60)).toEqual([50, 30]);
    expect(formatMetric(0.123456)).toBe('0.123');
    expect(formatMetric(0.00002)).toBe('2.0e-5');
    expect(formatMetric(undefined)).toBe('–');
  });
});

describe('socket colours', () => {
  test('known types have fixed colours, unions take the first, others a stable hash', () => {
    expect(typeColor('IMAGE')).toBe(typeColor('image'));
    expect(typeColor('IMAGE,LATENT')).toBe(typeColor('IMAGE'));
    expect(typeColor('MY_TYPE')).toMatch(/^#[0-9a-f]{6}$/);
    expect(typeColor('MY_TYPE')).toBe(typeColor('MY_TYPE'));
    expect(typeColor('MY_TYPE')).not.toBe(typeColor('OTHER_TYPE'));
  });
});
