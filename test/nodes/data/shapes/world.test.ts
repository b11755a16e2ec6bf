import {
  COLOR_RGB,
  COLORS,
  HALF_SIDE,
  insideShape,
  objectsOverlap,
  shapeArea,
  validateScene,
  type SceneObject,
} from '../../../../nodes/data/shapes/world';

const obj = (o: Partial<SceneObject>): SceneObject => ({
  shape: 'circle',
  color: 'red',
  size: 'small',
  x: 0.5,
  y: 0.5,
  ...o,
});

describe('shapes world', () => {
  it('fixes the sizes, colours and shapes of the issue', () => {
    expect(HALF_SIDE).toEqual({ small: 0.1, large: 0.175 });
    expect(COLORS).toEqual(['red', 'green', 'blue', 'yellow', 'purple', 'white']);
    for (const c of COLORS) expect(COLOR_RGB[c]).toHaveLength(3);
  });

  it('draws a triangle pointing up inside its box', () => {
    const h = 0.1;
    expect(insideShape('triangle', 0, -h + 0.001, h)).toBe(true); // apex
    expect(insideShape('triangle', -h + 0.001, h, h)).toBe(true); // base corner
    expect(insideShape('triangle', -h + 0.01, -h + 0.01, h)).toBe(false); // top corner of the box
    expect(insideShape('circle', 0.07, 0.07, h)).toBe(true);
    expect(insideShape('circle', 0.08, 0.08, h)).toBe(false);
    expect(shapeArea('triangle', 'small')).toBeCloseTo(0.02);
    expect(shapeArea('square', 'large')).toBeCloseTo(0.1225);
  });

  it('tells overlapping shapes from shapes whose boxes merely touch corners', () => {
    expect(objectsOverlap(obj({ x: 0.3 }), obj({ x: 0.45 }))).toBe(true);
    expect(objectsOverlap(obj({ x: 0.3 }), obj({ x: 0.55 }))).toBe(false);
    // Two circles whose boxes overlap at the corners, but not the circles.
    expect(objectsOverlap(obj({ x: 0.3, y: 0.3 }), obj({ x: 0.47, y: 0.47 }))).toBe(false);
    expect(
      objectsOverlap(obj({ shape: 'square', x: 0.3, y: 0.3 }), obj({ shape: 'square', x: 0.47, y: 0.47 })),
    ).toBe(true);
  });

  it('accepts legal scenes and fills in the background', () => {
    const s = validateScene({ objects: [obj({}), obj({ x: 0.2, y: 0.2, shape: 'triangle' })] });
    expect(s.background).toBe('black');
    expect(s.objects).toHaveLength(2);
  });

  it('rejects bad scenes with the path of the problem', () => {
    expect(() => validateScene({ objects: [] })).toThrow('scene.objects: must hold 1 to 4 objects, got 0');
    expect(() => validateScene({ objects: [obj({ color: 'pink' as never })] })).toThrow(
      'scene.objects[0].color: "pink" is not one of red, green, blue, yellow, purple, white',
    );
    expect(() => validateScene({ objects: [obj({ size: 'large', x: 0.1 })] })).toThrow(
      /scene.objects\[0\].x: 0.1 puts a large object .* outside the canvas/,
    );
    expect(() => validateScene({ objects: [obj({}), obj({ x: 0.55 })] })).toThrow('objects 0 and 1 overlap');
    expect(() => validateScene({ background: 'white', objects: [obj({})] }, 'item 3')).toThrow(
      'item 3.background',
    );
    expect(() => validateScene({ objects: [obj({ x: Number.NaN })] })).toThrow('x: must be a finite number');
    expect(() => validateScene(null)).toThrow('scene: must be an object');
  });
});
