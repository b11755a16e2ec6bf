/**
 * Classifier-free guidance (spec §3.1 loop step 2): v = v_u + g·(v_c − v_u). g = 1 runs only the
 * conditional pass; any other g runs both (batched in one call when the two prompts share M).
 */
import { tf } from '../../server/runtime/tf';
import type { Conditioning, DualModel, Guider } from './interfaces';

/** v_u + g·(v_c − v_u); g = 1 returns a copy of v_c exactly and g = 0 returns v_u exactly. */
export function combineGuidance(vUncond: tf.Tensor4D, vCond: tf.Tensor4D, scale: number): tf.Tensor4D {
  if (scale === 1) return tf.clone(vCond);
  return tf.tidy(() => tf.add(vUncond, tf.mul(tf.sub(vCond, vUncond), scale)) as tf.Tensor4D);
}

/** Repeats a batch-1 encoder state to the latent batch; a matching batch passes through. */
export function broadcastEmbeds(embeds: tf.Tensor3D, batch: number, who: string): tf.Tensor3D {
  const b = embeds.shape[0];
  if (b === batch) return tf.clone(embeds);
  if (b === 1) return tf.tile(embeds, [batch, 1, 1]);
  throw new Error(
    `${who}: conditioning batch ${b} does not match the latent batch ${batch} (use 1 or ${batch})`,
  );
}

async function velocityOnly(
  model: DualModel,
  z: tf.Tensor4D,
  tau: tf.Tensor1D,
  enc: tf.Tensor3D,
): Promise<tf.Tensor4D> {
  const out = await model.forward(z, tau, enc, { text: false });
  out.logits?.dispose();
  if (!out.velocity) throw new Error('the model returned no velocity');
  return out.velocity;
}

export class CfgGuider implements Guider {
  constructor(
    readonly model: DualModel,
    readonly positive: Conditioning,
    readonly negative: Conditioning | undefined,
    readonly scale: number,
    private readonly who = 'CFGGuider',
  ) {
    if (!Number.isFinite(scale)) throw new Error(`${who}: input 'cfg' must be a finite number`);
    if (scale !== 1 && !negative) {
      throw new Error(
        `${who}: cfg ${scale} ≠ 1 needs the 'negative' conditioning (encode the empty prompt "" for plain guidance)`,
      );
    }
  }

  /** Whether one step costs one model pass (g = 1) or two. */
  get passes(): number {
    return this.scale === 1 ? 1 : 2;
  }

  async velocity(z: tf.Tensor4D, sigma: number): Promise<tf.Tensor4D> {
    const batch = z.shape[0];
    const pos = broadcastEmbeds(this.positive.embeds, batch, this.who);
    try {
      if (this.scale === 1) {
        const tau = tf.fill([batch], 1000 * sigma) as tf.Tensor1D;
        try {
          return await velocityOnly(this.model, z, tau, pos);
        } finally {
          tau.dispose();
        }
      }
      const neg = broadcastEmbeds(this.negative!.embeds, batch, this.who);
      try {
        let vu: tf.Tensor4D;
        let vc: tf.Tensor4D;
        if (neg.shape[1] === pos.shape[1] && neg.shape[2] === pos.shape[2]) {
          const z2 = tf.concat([z, z], 0);
          const tau2 = tf.fill([2 * batch], 1000 * sigma) as tf.Tensor1D;
          const enc2 = tf.concat([neg, pos], 0);
          const v2 = await velocityOnly(this.model, z2, tau2, enc2);
          tf.dispose([z2, tau2, enc2]);
          [vu, vc] = tf.split(v2, 2, 0) as [tf.Tensor4D, tf.Tensor4D];
          v2.dispose();
        } else {
          const tau = tf.fill([batch], 1000 * sigma) as tf.Tensor1D;
          vu = await velocityOnly(this.model, z, tau, neg);
          vc = await velocityOnly(this.model, z, tau, pos);
          tau.dispose();
        }
        const v = combineGuidance(vu, vc, this.scale);
        tf.dispose([vu, vc]);
        return v;
      } finally {
        neg.dispose();
      }
    } finally {
      pos.dispose();
    }
  }
}
