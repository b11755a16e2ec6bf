import {
  IMAGE,
  defineNode,
  expectImage,
  runtime,
  type Tensor3D,
  type Tensor4D,
} from 'ddit-studio/plugin-api';

/** Columns for a batch when the user leaves it to us: as square as possible. */
export function autoColumns(batch: number): number {
  return Math.max(1, Math.ceil(Math.sqrt(batch)));
}

export const ImageGrid = defineNode({
  type: 'ImageGrid',
  category: 'image/postprocess',
  description: 'Lays a batch of images out as one grid image (e.g. every sample of a run side by side)',
  inputs: {
    images: IMAGE.input(),
    columns: { type: 'INT', default: 0, min: 0, max: 64, tooltip: '0 = as square as possible' },
    gap: { type: 'INT', default: 4, min: 0, max: 256, tooltip: 'pixels between images' },
    background: { type: 'FLOAT', default: 1, min: 0, max: 1, step: 0.01, tooltip: 'grey level of gaps' },
  },
  outputs: { image: IMAGE.output() },
  run({ images, columns, gap, background }) {
    expectImage('images', images);
    const { tf } = runtime();
    const x = images as unknown as Tensor4D;
    const [batch, h, w] = x.shape;
    const cols = Math.min(columns || autoColumns(batch), batch);
    const rows = Math.ceil(batch / cols);
    return {
      image: tf.tidy(() => {
        // Every cell carries its gap on the right and below; the last row and column lose theirs at the end.
        const cells = tf.unstack(x).map((img) =>
          tf.pad(
            img as Tensor3D,
            [
              [0, gap],
              [0, gap],
              [0, 0],
            ],
            background,
          ),
        );
        const blank = tf.fill([h + gap, w + gap, 3], background) as Tensor3D;
        const rowImages: Tensor3D[] = [];
        for (let r = 0; r < rows; r++) {
          const row = Array.from({ length: cols }, (_, c) => cells[r * cols + c] ?? blank);
          rowImages.push(tf.concat(row, 1));
        }
        const grid = tf.concat(rowImages, 0);
        const out = tf.slice(grid, [0, 0, 0], [rows * (h + gap) - gap, cols * (w + gap) - gap, 3]);
        return tf.expandDims(out, 0) as Tensor4D;
      }),
    };
  },
});
