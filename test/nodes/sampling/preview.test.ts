import { tileRgb } from '../../../nodes/sampling/preview';

describe('tileRgb', () => {
  it('lays a batch out in rows of ⌈√n⌉, one black pixel apart', () => {
    // five 2×1 images, each filled with its own index + 1
    const items = Array.from({ length: 5 }, (_, i) => new Uint8Array(2 * 1 * 3).fill(i + 1));
    const { rgb, width, height } = tileRgb(items, 2, 1);
    expect([width, height]).toEqual([3 * 2 + 2, 2 * 1 + 1]);
    const at = (x: number, y: number) => rgb[(y * width + x) * 3];
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((x) => at(x, 0))).toEqual([1, 1, 0, 2, 2, 0, 3, 3]);
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((x) => at(x, 1))).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((x) => at(x, 2))).toEqual([4, 4, 0, 5, 5, 0, 0, 0]);
  });
});
