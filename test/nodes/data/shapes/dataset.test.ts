import { ShapesDataset, type CaptionItem, type InstructionItem } from '../../../../nodes/data/shapes/dataset';
import { renderScene } from '../../../../nodes/data/shapes/render';

describe('ShapesDataset', () => {
  it('draws item i from the seed alone, whatever the order of reading', () => {
    const a = new ShapesDataset({ seed: 3, size: 50, task: 'caption' });
    const b = new ShapesDataset({ seed: 3, size: 50, task: 'caption' });
    const late = b.get(40);
    for (let i = 0; i < 40; i++) a.get(i);
    expect(a.get(40)).toEqual(late);
    expect(new ShapesDataset({ seed: 4, size: 50, task: 'caption' }).get(40).scene).not.toEqual(late.scene);
  });

  it('gives RGB HWC images in [0, 1] with captions', () => {
    const ds = new ShapesDataset({ seed: 1, size: 10, task: 'caption', resolution: 48 });
    const item = ds.get(2) as CaptionItem;
    expect(item.width).toBe(48);
    expect(item.image).toBeInstanceOf(Float32Array);
    expect(item.image).toHaveLength(48 * 48 * 3);
    expect(item.image).toEqual(renderScene(item.scene, { width: 48 }).data);
    expect(typeof item.caption).toBe('string');
    expect([...ds]).toHaveLength(10);
  });

  it('redraws the text, not the image, for another draw', () => {
    const ds = new ShapesDataset({ seed: 1, size: 20, task: 'instruction' });
    const texts = new Set<string>();
    for (let d = 0; d < 8; d++) {
      const item = ds.get(5, d) as InstructionItem;
      expect(item.scene).toEqual(ds.get(5).scene);
      expect(item.prompt.startsWith('q: ')).toBe(true);
      texts.add(`${item.question} ${item.answer}`);
    }
    expect(texts.size).toBeGreaterThan(1);
  });

  it('rejects bad arguments clearly', () => {
    expect(() => new ShapesDataset({ seed: 1, size: 0, task: 'caption' })).toThrow(
      'size must be a positive integer',
    );
    expect(() => new ShapesDataset({ seed: 1, size: 5, task: 'vqa' as never })).toThrow(
      'task must be one of caption, instruction',
    );
    expect(() => new ShapesDataset({ seed: 1, size: 5, task: 'caption' }).get(5)).toThrow(
      'index 5 is outside 0..4',
    );
  });
});
