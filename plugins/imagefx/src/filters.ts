import { IMAGE, defineNode, expectImage, runtime, type Tensor4D } from 'ddit-studio/plugin-api';

/** Normalised 1-D Gaussian weights for a kernel of 2·radius+1 taps. */
export function gaussianWeights(radius: number): number[] {
  const sigma = Math.max(0.5, radius / 2);
  const w = Array.from({ length: 2 * radius + 1 }, (_, i) =>
    Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)),
  );
  const sum = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / sum);
}

/** Separable Gaussian blur of NHWC RGB images, mirroring the edges so borders keep their brightness. */
export function gaussianBlur(image: Tensor4D, radius: number): Tensor4D {
  const { tf } = runtime();
  const [, h, w] = image.shape;
  const r = Math.min(radius, h - 1, w - 1);
  if (r < 1) return image.clone();
  return tf.tidy(() => {
    const k = gaussianWeights(r);
    // Same weights for each of the 3 channels: depthwise filters [kh, kw, channels, 1].
    const vertical = tf.tensor4d(
      k.flatMap((v) => [v, v, v]),
      [k.length, 1, 3, 1],
    );
    const horizontal = tf.tensor4d(
      k.flatMap((v) => [v, v, v]),
      [1, k.length, 3, 1],
    );
    const padded = tf.mirrorPad(
      image,
      [
        [0, 0],
        [r, r],
        [r, r],
        [0, 0],
      ],
      'reflect',
    );
    return tf.depthwiseConv2d(tf.depthwiseConv2d(padded, vertical, 1, 'valid'), horizontal, 1, 'valid');
  });
}

export const Sharpen = defineNode({
  type: 'Sharpen',
  category: 'image/postprocess',
  description: 'Unsharp mask: adds back the difference between the image and a blurred copy of it',
  inputs: {
    image: IMAGE.input(),
    amount: { type: 'FLOAT', default: 0.8, min: 0, max: 5, step: 0.05 },
    radius: { type: 'INT', default: 1, min: 1, max: 16, tooltip: 'blur radius in pixels' },
  },
  outputs: { image: IMAGE.output() },
  run({ image, amount, radius }) {
    expectImage('image', image);
    const { tf } = runtime();
    const x = image as unknown as Tensor4D;
    return {
      image: tf.tidy(() => {
        const blurred = gaussianBlur(x, radius);
        return tf.clipByValue(tf.add(x, tf.mul(tf.sub(x, blurred), amount)), 0, 1);
      }),
    };
  },
});

export const AdjustColor = defineNode({
  type: 'AdjustColor',
  category: 'image/postprocess',
  description: 'Brightness, contrast, saturation and gamma, applied in that order',
  inputs: {
    image: IMAGE.input(),
    brightness: { type: 'FLOAT', default: 0, min: -1, max: 1, step: 0.01 },
    contrast: { type: 'FLOAT', default: 1, min: 0, max: 4, step: 0.01 },
    saturation: { type: 'FLOAT', default: 1, min: 0, max: 4, step: 0.01 },
    gamma: {
      type: 'FLOAT',
      default: 1,
      min: 0.1,
      max: 5,
      step: 0.01,
      tooltip: 'above 1 brightens mid-tones',
    },
  },
  outputs: { image: IMAGE.output() },
  run({ image, brightness, contrast, saturation, gamma }) {
    expectImage('image', image);
    const { tf } = runtime();
    const x = image as unknown as Tensor4D;
    return {
      image: tf.tidy(() => {
        let y = tf.add(x, brightness);
        y = tf.add(tf.mul(tf.sub(y, 0.5), contrast), 0.5);
        // Rec. 601 luma: the grey each pixel fades to as saturation goes to 0.
        const luma = tf.sum(tf.mul(y, tf.tensor1d([0.299, 0.587, 0.114])), -1, true);
        y = tf.add(luma, tf.mul(tf.sub(y, luma), saturation));
        y = tf.clipByValue(y, 0, 1);
        return gamma === 1 ? y : tf.pow(y, 1 / gamma);
      }),
    };
  },
});
