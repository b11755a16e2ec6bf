import { IMAGE, defineNode, runtime, type Tensor4D } from 'ddit-studio/plugin-api';

const PATTERNS = ['gradient', 'checker', 'rings'] as const;

/** HSV → RGB with h, s, v in [0, 1]. */
function hsv(h: number, s: number, v: number): [number, number, number] {
  const f = (n: number): number => {
    const k = (n + h * 6) % 6;
    return v - v * s * Math.max(0, Math.min(k, 4 - k, 1));
  };
  return [f(5), f(3), f(1)];
}

/** One pattern image, flat RGB; `shift` turns the hues so that the images of a batch differ. */
export function drawPattern(pattern: string, width: number, height: number, shift: number): Float32Array {
  const px = new Float32Array(width * height * 3);
  const cell = Math.max(1, Math.round(Math.min(width, height) / 8));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = width > 1 ? x / (width - 1) : 0;
      const v = height > 1 ? y / (height - 1) : 0;
      let rgb: [number, number, number];
      if (pattern === 'checker') {
        const on = (Math.floor(x / cell) + Math.floor(y / cell)) % 2 === 0;
        rgb = hsv(shift, 0.6, on ? 0.9 : 0.25);
      } else if (pattern === 'rings') {
        const r = Math.hypot(u - 0.5, v - 0.5);
        rgb = hsv((shift + r * 2) % 1, 0.7, 0.5 + 0.5 * Math.cos(r * 40));
      } else {
        rgb = hsv((shift + u) % 1, 0.8, 0.35 + 0.65 * (1 - v));
      }
      px.set(rgb, (y * width + x) * 3);
    }
  }
  return px;
}

export const TestPattern = defineNode({
  type: 'TestPattern',
  category: 'image/generate',
  description:
    'A batch of synthetic images (gradient, checkerboard or rings) for trying image nodes without a model',
  inputs: {
    pattern: { type: 'COMBO', choices: PATTERNS, default: 'gradient' },
    width: { type: 'INT', default: 256, min: 1, max: 4096 },
    height: { type: 'INT', default: 256, min: 1, max: 4096 },
    batch: { type: 'INT', default: 1, min: 1, max: 64 },
  },
  outputs: { image: IMAGE.output() },
  run({ pattern, width, height, batch }) {
    const { tf } = runtime();
    const data = new Float32Array(batch * width * height * 3);
    for (let b = 0; b < batch; b++)
      data.set(drawPattern(pattern, width, height, b / batch), b * width * height * 3);
    return { image: tf.tensor4d(data, [batch, height, width, 3]) as Tensor4D };
  },
});
