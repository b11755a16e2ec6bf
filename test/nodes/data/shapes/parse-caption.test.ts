import { parseCaption } from '../../../../nodes/data/shapes/parse-caption';

describe('parseCaption', () => {
  it('reads objects with the attributes they state', () => {
    expect(parseCaption('a circle')).toEqual({
      groups: [{ count: 1, shape: 'circle' }],
      relations: [],
      unknown: [],
    });
    expect(parseCaption('A large red circle on the left.').groups).toEqual([
      { count: 1, shape: 'circle', color: 'red', size: 'large', where: 'left' },
    ]);
    expect(parseCaption('three blue squares').groups).toEqual([{ count: 3, shape: 'square', color: 'blue' }]);
    expect(parseCaption('a red circle, two small squares and a white triangle').groups).toEqual([
      { count: 1, shape: 'circle', color: 'red' },
      { count: 2, shape: 'square', size: 'small' },
      { count: 1, shape: 'triangle', color: 'white' },
    ]);
  });

  it('reads relations between noun phrases', () => {
    const p = parseCaption('a red circle left of a white triangle');
    expect(p.groups).toHaveLength(2);
    expect(p.relations).toEqual([{ a: 0, rel: 'left of', b: 1 }]);
    expect(parseCaption('a square above a circle').relations).toEqual([{ a: 0, rel: 'above', b: 1 }]);
    expect(parseCaption('a square to the right of a circle').relations).toEqual([
      { a: 0, rel: 'right of', b: 1 },
    ]);
  });

  it('skips words outside the grammar and keeps what it can read', () => {
    const p = parseCaption('there is a big red circle and <unk> a blue blob');
    expect(p.groups).toEqual([{ count: 1, shape: 'circle', color: 'red' }]);
    expect(p.unknown).toEqual(['there', 'is', 'a', 'big', '<', 'unk', '>', 'a', 'blue', 'blob']);
    expect(parseCaption('').groups).toEqual([]);
  });
});
