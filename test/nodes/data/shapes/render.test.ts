import { fromUint8, renderScene, toUint8 } from '../../../../nodes/data/shapes/render';
import { COLOR_RGB, shapeArea, type Scene } from '../../../../nodes/data/shapes/world';

const scene = (o: Partial<Scene['objects'][number]>): Scene => ({
  background: 'black',
  objects: [{ shape: 'square', color: 'blue', size: 'large', x: 0.5, y: 0.5, ...o }],
});

/** Covered fraction of the canvas, measured through one colour channel. */
function coverage(img: ReturnType<typeof renderScene>, channel: number, full: number): number {
  let s = 0;
  for (let i = channel; i < img.data.length; i += 3) s += img.data[i] / full;
  return s / (img.width * img.height);
}

describe('renderScene', () => {
  it('draws 32×32 RGB in [0, 1] on black by default', () => {
    const img = renderScene(scene({}));
    expect(img.width).toBe(32);
    expect(img.height).toBe(32);
    expect(img.data).toHaveLength(32 * 32 * 3);
    expect(Array.from(img.data.subarray(0, 3))).toEqual([0, 0, 0]);
    const c = (16 * 32 + 16) * 3;
    const [r, g, b] = COLOR_RGB.blue;
    expect(img.data[c]).toBeCloseTo(r / 255, 5);
    expect(img.data[c + 1]).toBeCloseTo(g / 255, 5);
    expect(img.data[c + 2]).toBeCloseTo(b / 255, 5);
    expect(Math.max(...img.data)).toBeLessThanOrEqual(1);
  });

  it('covers the shape area, with anti-aliased edges', () => {
    for (const shape of ['circle', 'square', 'triangle'] as const) {
      for (const size of ['small', 'large'] as const) {
        const img = renderScene(scene({ shape, size, color: 'white', x: 0.43, y: 0.57 }), { width: 64 });
        expect(coverage(img, 0, 240 / 255)).toBeCloseTo(shapeArea(shape, size), 2);
      }
    }
    const img = renderScene(scene({ shape: 'circle', color: 'white' }));
    const partial = Array.from(img.data).filter((v) => v > 0.05 && v < 0.9);
    expect(partial.length).toBeGreaterThan(10);
  });

  it('puts y downwards and x rightwards', () => {
    const img = renderScene(scene({ size: 'small', x: 0.2, y: 0.8 }), { width: 40, height: 50 });
    expect(img.data.length).toBe(40 * 50 * 3);
    const at = (x: number, y: number): number =>
      img.data[(Math.floor(y * 50) * 40 + Math.floor(x * 40)) * 3 + 2];
    expect(at(0.2, 0.8)).toBeGreaterThan(0.9);
    expect(at(0.8, 0.2)).toBe(0);
  });

  it('rejects resolutions below 32', () => {
    expect(() => renderScene(scene({}), { width: 16 })).toThrow(
      'width must be an integer in [32, 4096], got 16',
    );
    expect(() => renderScene(scene({}), { supersample: 0 })).toThrow('supersample');
  });

  it('converts to 8-bit and back', () => {
    const img = renderScene(scene({ shape: 'triangle' }));
    const u8 = toUint8(img);
    const back = fromUint8(u8, 32, 32);
    for (let i = 0; i < u8.length; i++)
      expect(Math.abs(back.data[i] - img.data[i])).toBeLessThanOrEqual(0.5 / 255 + 1e-6);
    expect(() => fromUint8(u8, 31, 32)).toThrow('expected 2976 bytes');
  });
});
