import { Rng } from '../../../../nodes/data/shapes/random';
import { relationHolds } from '../../../../nodes/data/shapes/relations';
import {
  MIN_GAP,
  parseSceneMix,
  SCENE_KINDS,
  SCENE_MIX,
  sampleScene,
  type SceneKind,
} from '../../../../nodes/data/shapes/sampler';
import { boxGap, validateScene } from '../../../../nodes/data/shapes/world';

describe('sampleScene', () => {
  it('is deterministic under a seed', () => {
    const a = Array.from(
      { length: 20 },
      (
        (r) => () =>
          sampleScene(r)
      )(new Rng(5)),
    );
    const b = Array.from(
      { length: 20 },
      (
        (r) => () =>
          sampleScene(r)
      )(new Rng(5)),
    );
    expect(a).toEqual(b);
    expect(sampleScene(new Rng(6))).not.toEqual(a[0]);
  });

  it('draws legal, well separated scenes in the recipe mix', () => {
    const rng = new Rng(1);
    const counts: Record<string, number> = {};
    const n = 2000;
    for (let i = 0; i < n; i++) {
      const s = sampleScene(rng);
      counts[s.kind] = (counts[s.kind] ?? 0) + 1;
      expect(() => validateScene(s.scene)).not.toThrow();
      const o = s.scene.objects;
      for (let a = 0; a < o.length; a++)
        for (let b = a + 1; b < o.length; b++)
          expect(boxGap(o[a], o[b])).toBeGreaterThanOrEqual(MIN_GAP - 1e-9);
    }
    for (const k of SCENE_KINDS) expect(counts[k] / n).toBeCloseTo(SCENE_MIX[k], 1);
  });

  it('makes each kind what it says', () => {
    const rng = new Rng(2);
    const of = (kind: SceneKind) => Array.from({ length: 100 }, () => sampleScene(rng, kind));
    for (const s of of('single')) expect(s.scene.objects).toHaveLength(1);
    for (const s of of('pair')) expect(s.scene.objects).toHaveLength(2);
    for (const s of of('relation')) {
      const [a, b] = s.scene.objects;
      expect(relationHolds(a, b, s.relation!)).toBe(true);
      expect(a.shape === b.shape && a.color === b.color).toBe(false);
    }
    for (const s of of('counting')) {
      const o = s.scene.objects;
      expect(o.length).toBeGreaterThanOrEqual(2);
      expect(new Set(o.map((x) => x.shape)).size).toBe(1);
    }
    for (const s of of('crowd')) {
      expect(s.scene.objects.length).toBeGreaterThanOrEqual(3);
      expect(s.scene.objects.every((x) => x.size === 'small')).toBe(true);
    }
  });

  it('draws kinds by a given mix, and random pairs of two shapes when asked', () => {
    const mix = parseSceneMix('pair 3, relation: 1');
    expect(mix).toEqual({ single: 0, pair: 3, relation: 1, counting: 0, crowd: 0 });
    const rng = new Rng(8);
    const counts = { pair: 0, relation: 0 } as Record<string, number>;
    for (let i = 0; i < 800; i++) {
      const { kind, scene } = sampleScene(rng, undefined, { mix, distinctPairs: true });
      counts[kind]++;
      if (kind === 'pair') expect(scene.objects[0].shape).not.toBe(scene.objects[1].shape);
    }
    expect(counts.pair + counts.relation).toBe(800);
    expect(counts.pair / 800).toBeCloseTo(0.75, 1);
    // the recipe mix by default, and the same stream as before these options
    expect(parseSceneMix(' ')).toEqual(SCENE_MIX);
    const a = new Rng(3);
    const b = new Rng(3);
    for (let i = 0; i < 50; i++)
      expect(sampleScene(a, undefined, { mix: SCENE_MIX })).toEqual(sampleScene(b));
    expect(() => parseSceneMix('pair -1')).toThrow("the weight of 'pair' must be a number ≥ 0, got -1");
    expect(() => parseSceneMix('pair 0')).toThrow('every scene kind weighs 0');
  });
});
