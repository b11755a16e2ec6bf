/** The eval pack: the judge as a node, to see what it reads in any image. */
import { defineNode } from '../../server/engine/define-node';
import type { AnyNodeDefinition } from '../../server/engine/types';
import { expectImage, IMAGE, type Tensor } from '../../server/plugins/api';
import { judgeImage, type FoundObject } from './judge';

const r3 = (v: number): number => Math.round(v * 1000) / 1000;

function summary(f: FoundObject): Record<string, unknown> {
  return { shape: f.shape, color: f.color, size: f.size, x: r3(f.x), y: r3(f.y), area: r3(f.area) };
}

export const JudgeImage = defineNode({
  type: 'JudgeImage',
  displayName: 'Judge Image',
  category: 'eval',
  description:
    "Finds the shapes-world objects in an image (colour, shape, size, centre) with the evaluation's judge and " +
    'shows them as JSON: a list of objects, or a list per image for a batch.',
  output: true,
  inputs: { image: IMAGE.input() },
  outputs: { objects: { type: 'STRING', tooltip: 'The objects found, as JSON' } },
  async run({ image }, ctx) {
    expectImage('image', image);
    const [batch, height, width] = image.shape;
    const data = (await (image as unknown as Tensor).data()) as Float32Array;
    const per = height * width * 3;
    const found = Array.from({ length: batch }, (_, b) =>
      judgeImage({ width, height, data: data.subarray(b * per, (b + 1) * per) }).map(summary),
    );
    const json = JSON.stringify(batch === 1 ? found[0] : found);
    ctx.ui({ text: [json] });
    return { objects: json };
  },
});

export const nodes: AnyNodeDefinition[] = [JudgeImage];
