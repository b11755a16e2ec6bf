import {
  relationHolds,
  relationsBetween,
  whereIs,
  whereIsClear,
} from '../../../../nodes/data/shapes/relations';

describe('relations', () => {
  it('holds only beyond the 0.1 threshold, on the right axis', () => {
    expect(relationHolds({ x: 0.2, y: 0.5 }, { x: 0.31, y: 0.5 }, 'left of')).toBe(true);
    expect(relationHolds({ x: 0.2, y: 0.5 }, { x: 0.3, y: 0.5 }, 'left of')).toBe(false);
    expect(relationHolds({ x: 0.8, y: 0.5 }, { x: 0.2, y: 0.5 }, 'right of')).toBe(true);
    expect(relationHolds({ x: 0.5, y: 0.2 }, { x: 0.5, y: 0.8 }, 'above')).toBe(true);
    expect(relationHolds({ x: 0.5, y: 0.8 }, { x: 0.5, y: 0.2 }, 'below')).toBe(true);
    expect(relationHolds({ x: 0.5, y: 0.2 }, { x: 0.5, y: 0.8 }, 'below')).toBe(false);
    expect(relationsBetween({ x: 0.2, y: 0.2 }, { x: 0.8, y: 0.8 })).toEqual(['left of', 'above']);
  });

  it('puts single objects in the center or on their dominant axis (y down)', () => {
    expect(whereIs({ x: 0.5, y: 0.5 })).toBe('center');
    expect(whereIs({ x: 0.64, y: 0.36 })).toBe('center');
    expect(whereIs({ x: 0.65, y: 0.5 })).toBe('right');
    expect(whereIs({ x: 0.2, y: 0.4 })).toBe('left');
    expect(whereIs({ x: 0.45, y: 0.1 })).toBe('top');
    expect(whereIs({ x: 0.6, y: 0.9 })).toBe('bottom');
    // Ties go to left/right.
    expect(whereIs({ x: 0.2, y: 0.2 })).toBe('left');
    expect(whereIs({ x: 0.8, y: 0.8 })).toBe('right');
  });

  it('knows when a position is too close to a boundary to ask about', () => {
    expect(whereIsClear({ x: 0.5, y: 0.5 }, 0.02)).toBe(true);
    expect(whereIsClear({ x: 0.64, y: 0.5 }, 0.02)).toBe(false);
    expect(whereIsClear({ x: 0.2, y: 0.21 }, 0.02)).toBe(false);
    expect(whereIsClear({ x: 0.15, y: 0.4 }, 0.02)).toBe(true);
  });
});
