import { JudgeImage } from '../../../nodes/eval';
import { renderScene } from '../../../nodes/data/shapes/render';
import { countNewTensors, tf } from '../../../server/runtime';
import type { NodeContext, UiOutput } from '../../../server/engine/types';

function context(shown: UiOutput[]): NodeContext {
  return { ui: (o: UiOutput) => shown.push(o) } as unknown as NodeContext;
}

describe('JudgeImage node', () => {
  it('shows the objects it finds as JSON and leaves no tensors behind', async () => {
    const img = renderScene({
      background: 'black',
      objects: [
        { shape: 'circle', color: 'purple', size: 'large', x: 0.3, y: 0.3 },
        { shape: 'triangle', color: 'green', size: 'small', x: 0.75, y: 0.7 },
      ],
    });
    const image = tf.tensor4d(img.data, [1, 32, 32, 3]);
    const shown: UiOutput[] = [];
    const { result, tensors } = await countNewTensors(() => JudgeImage.run({ image }, context(shown)));
    expect(tensors).toBe(0);
    const found = JSON.parse((result as { objects: string }).objects);
    expect(found).toEqual([
      { shape: 'circle', color: 'purple', size: 'large', x: 0.3, y: 0.3, area: expect.any(Number) },
      {
        shape: 'triangle',
        color: 'green',
        size: 'small',
        x: expect.any(Number),
        y: expect.any(Number),
        area: expect.any(Number),
      },
    ]);
    expect(found[1].x).toBeCloseTo(0.75, 2);
    expect(found[1].y).toBeCloseTo(0.7, 1);
    expect(shown).toEqual([{ text: [(result as { objects: string }).objects] }]);
    image.dispose();
  });

  it('rejects a tensor that is not an IMAGE, naming the input', async () => {
    const t = tf.zeros([32, 32, 3]);
    await expect(Promise.resolve().then(() => JudgeImage.run({ image: t }, context([])))).rejects.toThrow(
      "input 'image': expected a tensor of rank 4 with last dimension 3, got [32, 32, 3]",
    );
    t.dispose();
  });
});
