import { tf } from '../../../server/runtime/tf';
import { CfgGuider, combineGuidance } from '../../../nodes/sampling/cfg';
import { noisedStart, sampleEuler } from '../../../nodes/sampling/euler';
import { flowMatchSigmas } from '../../../nodes/sampling/flow-schedule';
import type { DualModel, DualOutput } from '../../../nodes/sampling/interfaces';
import { Rng } from '../../../nodes/sampling/random';

const SHAPE: [number, number, number, number] = [2, 4, 4, 3];

/** The ideal model of a straight path from z0 to eps: its velocity is the constant eps − z0. */
class StraightPath implements DualModel {
  calls = 0;
  constructor(private readonly v: tf.Tensor4D) {}
  forward(z: tf.Tensor4D, _tau: tf.Tensor1D, enc: tf.Tensor3D): DualOutput {
    this.calls++;
    return { velocity: tf.clone(this.v), logits: tf.zeros([z.shape[0], enc.shape[1], 5]) };
  }
}

/** A velocity that depends on the text state and on z, so guidance has something to combine. */
class TextDependent implements DualModel {
  calls = 0;
  forward(z: tf.Tensor4D, tau: tf.Tensor1D, enc: tf.Tensor3D): DualOutput {
    this.calls++;
    return tf.tidy(() => {
      const e = tf.mean(enc, [1, 2]).reshape([-1, 1, 1, 1]);
      const velocity = tf.add(
        tf.mul(z, 0.5),
        tf.mul(e, tau.reshape([-1, 1, 1, 1]).div(1000).add(1)),
      ) as tf.Tensor4D;
      return { velocity, logits: tf.zeros([z.shape[0], enc.shape[1], 5]) as tf.Tensor3D };
    });
  }
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

describe('Euler flow sampler (spec §5 item 10)', () => {
  it.each([
    [1, 3],
    [4, 1],
    [28, 3],
    [13, 5.5],
  ])('recovers z0 exactly on a straight path with N=%i, shift=%f', async (steps, shift) => {
    const rng = new Rng(11);
    const z0 = tf.tensor(rng.normals(32 * 3), [2, 4, 4, 3]) as tf.Tensor4D;
    const start = noisedStart(tf.zeros(SHAPE) as tf.Tensor4D, 1, new Rng(5));
    const v = tf.sub(start, z0) as tf.Tensor4D;
    const model = new StraightPath(v);
    const cond = { embeds: tf.ones([1, 3, 2]) as tf.Tensor3D };
    const guider = new CfgGuider(model, cond, undefined, 1);
    const seen: number[] = [];
    const out = await sampleEuler(guider, flowMatchSigmas(steps, shift), start, ({ index, sigma, x0 }) => {
      seen.push(index);
      expect(sigma).toBeGreaterThan(0);
      // x0 = z − σ·v is z0 at every step of the straight path
      expect(maxAbsDiff(x0, z0)).toBeLessThan(1e-5);
    });
    expect(seen).toEqual(Array.from({ length: steps }, (_, i) => i));
    expect(model.calls).toBe(steps);
    expect(maxAbsDiff(out, z0)).toBeLessThan(1e-5);
    tf.dispose([z0, start, v, out, cond.embeds]);
  });

  it('starts from pure noise at σ0 = 1 and on the straight path below it', () => {
    const latent = tf.fill(SHAPE, 0.5) as tf.Tensor4D;
    const a = noisedStart(latent, 1, new Rng(9));
    const noise = tf.tensor(new Rng(9).normals(latent.size), SHAPE);
    expect(maxAbsDiff(a, noise)).toBe(0);
    const b = noisedStart(latent, 0.25, new Rng(9));
    const expected = tf.add(tf.mul(latent, 0.75), tf.mul(noise, 0.25));
    expect(maxAbsDiff(b, expected)).toBeLessThan(1e-7);
    tf.dispose([latent, a, noise, b, expected]);
  });
});

describe('classifier-free guidance (spec §5 item 11)', () => {
  const z = tf.tensor(new Rng(1).normals(2 * 4 * 4 * 3), SHAPE) as tf.Tensor4D;
  const pos = { embeds: tf.fill([1, 3, 2], 2) as tf.Tensor3D };
  const neg = { embeds: tf.fill([1, 3, 2], -1) as tf.Tensor3D };

  async function direct(model: DualModel, embeds: tf.Tensor3D, sigma: number): Promise<tf.Tensor4D> {
    const tau = tf.fill([2], 1000 * sigma) as tf.Tensor1D;
    const out = await model.forward(z, tau, tf.tile(embeds, [2, 1, 1]) as tf.Tensor3D);
    return out.velocity!;
  }

  it('g = 1 returns v_c exactly with one pass', async () => {
    const model = new TextDependent();
    const v = await new CfgGuider(model, pos, neg, 1).velocity(z, 0.7);
    expect(model.calls).toBe(1);
    const vc = await direct(new TextDependent(), pos.embeds, 0.7);
    expect(maxAbsDiff(v, vc)).toBe(0);
  });

  it('g = 0 returns v_u and the result is linear in g', async () => {
    const vu = await direct(new TextDependent(), neg.embeds, 0.4);
    const vc = await direct(new TextDependent(), pos.embeds, 0.4);
    const model = new TextDependent();
    const v0 = await new CfgGuider(model, pos, neg, 0).velocity(z, 0.4);
    expect(model.calls).toBe(1); // both branches in one batched call
    expect(maxAbsDiff(v0, vu)).toBeLessThan(1e-6);
    const gs = [0.5, 2, 7];
    const vs = await Promise.all(
      gs.map((g) => new CfgGuider(new TextDependent(), pos, neg, g).velocity(z, 0.4)),
    );
    gs.forEach((g, i) => {
      const expected = tf.add(vu, tf.mul(tf.sub(vc, vu), g));
      expect(maxAbsDiff(vs[i], expected)).toBeLessThan(1e-5);
    });
    // linearity: v(g=7) − v(g=2) = 2.5·(v(g=2) − v(g=0))
    const lhs = tf.sub(vs[2], vs[1]);
    const rhs = tf.mul(tf.sub(vs[1], v0), 2.5);
    expect(maxAbsDiff(lhs, rhs)).toBeLessThan(1e-4);
    expect(maxAbsDiff(combineGuidance(vu, vc, 1), vc)).toBe(0);
  });

  it('runs two passes when the prompts have different lengths', async () => {
    const model = new TextDependent();
    const shortNeg = { embeds: tf.fill([1, 2, 2], -1) as tf.Tensor3D };
    const v = await new CfgGuider(model, pos, shortNeg, 3).velocity(z, 0.5);
    expect(model.calls).toBe(2);
    const vu = await direct(new TextDependent(), shortNeg.embeds, 0.5);
    const vc = await direct(new TextDependent(), pos.embeds, 0.5);
    expect(maxAbsDiff(v, tf.add(vu, tf.mul(tf.sub(vc, vu), 3)))).toBeLessThan(1e-5);
  });

  it('asks for a negative prompt when g ≠ 1', () => {
    expect(() => new CfgGuider(new TextDependent(), pos, undefined, 4)).toThrow(/negative/);
  });
});
