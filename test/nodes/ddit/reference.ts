/**
 * An independent reading of spec §1 for tests: plain tfjs ops on a PyTorch-orientation state map
 * (Linear weights (out, in), patch conv (D, C, p, p)), batched attention, the tanh GELU, explicit unpatchify
 * loops. It shares no code with nodes/ddit/model.ts.
 */
import { tf } from '../../../server/runtime';

export interface RefConfig {
  p: number;
  C: number;
  D: number;
  H: number;
  G: number;
  S: number;
  layers: number;
}

type State = Map<string, tf.Tensor>;

function lin(s: State, name: string, x: tf.Tensor): tf.Tensor {
  const w = s.get(`${name}.weight`)! as tf.Tensor2D;
  const b = s.get(`${name}.bias`);
  const y = tf.matMul(tf.reshape(x, [-1, w.shape[1]]), w, false, true);
  const out = tf.reshape(y, [...x.shape.slice(0, -1), w.shape[0]]);
  return b ? tf.add(out, b) : out;
}

function ln(x: tf.Tensor): tf.Tensor {
  const m = tf.mean(x, -1, true);
  const v = tf.mean(tf.square(tf.sub(x, m)), -1, true);
  return tf.div(tf.sub(x, m), tf.sqrt(tf.add(v, 1e-6)));
}

function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(
    tf.mul(x, 0.5),
    tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))),
  );
}

const silu = (x: tf.Tensor): tf.Tensor => tf.mul(x, tf.sigmoid(x));

function posTable(D: number, G: number, base: number, gh: number, gw: number): tf.Tensor {
  const top = Math.floor((G - gh) / 2);
  const left = Math.floor((G - gw) / 2);
  const rows: number[][] = [];
  for (let i = 0; i < gh; i++) {
    for (let j = 0; j < gw; j++) {
      const x = ((left + j) * base) / G;
      const y = ((top + i) * base) / G;
      const om = Array.from({ length: D / 4 }, (_, k) => 1 / 10000 ** (k / (D / 4)));
      rows.push([
        ...om.map((w) => Math.sin(x * w)),
        ...om.map((w) => Math.cos(x * w)),
        ...om.map((w) => Math.sin(y * w)),
        ...om.map((w) => Math.cos(y * w)),
      ]);
    }
  }
  return tf.tensor2d(rows);
}

export function referenceForward(
  s: State,
  cfg: RefConfig,
  z: tf.Tensor4D,
  tau: number[],
  enc: tf.Tensor3D,
): { velocity: tf.Tensor4D; logits: tf.Tensor3D } {
  return tf.tidy(() => {
    const { p, C, D, H, G, S } = cfg;
    const [B, h, w] = z.shape;
    const gh = h / p;
    const gw = w / p;
    // patch embedding as a real stride-p conv (PyTorch weight → HWIO)
    const conv = tf.conv2d(
      z,
      tf.transpose(s.get('pos_embed.proj.weight')!, [2, 3, 1, 0]) as tf.Tensor4D,
      p,
      'valid',
    );
    let x = tf.add(
      tf.add(tf.reshape(conv, [B, gh * gw, D]), s.get('pos_embed.proj.bias')!),
      posTable(D, G, S / p, gh, gw),
    );
    // timestep
    const f = Array.from({ length: 128 }, (_, k) => Math.exp((-Math.log(10000) * k) / 128));
    const e = tf.tensor2d(
      tau.map((t) => [...f.map((fk) => Math.cos(t * fk)), ...f.map((fk) => Math.sin(t * fk))]),
    );
    const y = lin(
      s,
      'time_text_embed.timestep_embedder.linear_2',
      silu(lin(s, 'time_text_embed.timestep_embedder.linear_1', e)),
    );
    const sy = silu(y);
    let c = lin(s, 'context_embedder', enc);
    const N = gh * gw;
    const M = enc.shape[1];
    for (let i = 0; i < cfg.layers; i++) {
      const pre = `transformer_blocks.${i}.`;
      const mx = tf.split(lin(s, pre + 'norm1.linear', sy), 6, 1).map((t) => tf.expandDims(t, 1));
      const mc = tf.split(lin(s, pre + 'norm1_context.linear', sy), 6, 1).map((t) => tf.expandDims(t, 1));
      const [shx1, scx1, gx1, shx2, scx2, gx2] = mx;
      const [shc1, scc1, gc1, shc2, scc2, gc2] = mc;
      const xn = tf.add(tf.mul(ln(x), tf.add(1, scx1)), shx1);
      const cn = tf.add(tf.mul(ln(c), tf.add(1, scc1)), shc1);
      const heads = (t: tf.Tensor): tf.Tensor => tf.transpose(tf.reshape(t, [B, -1, H, D / H]), [0, 2, 1, 3]);
      const q = heads(tf.concat([lin(s, pre + 'attn.to_q', xn), lin(s, pre + 'attn.add_q_proj', cn)], 1));
      const k = heads(tf.concat([lin(s, pre + 'attn.to_k', xn), lin(s, pre + 'attn.add_k_proj', cn)], 1));
      const v = heads(tf.concat([lin(s, pre + 'attn.to_v', xn), lin(s, pre + 'attn.add_v_proj', cn)], 1));
      const a = tf.matMul(tf.softmax(tf.div(tf.matMul(q, k, false, true), Math.sqrt(D / H))), v);
      const o = tf.reshape(tf.transpose(a, [0, 2, 1, 3]), [B, N + M, D]);
      const ox = lin(s, pre + 'attn.to_out.0', tf.slice(o, [0, 0, 0], [B, N, D]));
      const oc = lin(s, pre + 'attn.to_add_out', tf.slice(o, [0, N, 0], [B, M, D]));
      x = tf.add(x, tf.mul(gx1, ox));
      const ffx = lin(
        s,
        pre + 'ff.net.2',
        gelu(lin(s, pre + 'ff.net.0.proj', tf.add(tf.mul(ln(x), tf.add(1, scx2)), shx2))),
      );
      x = tf.add(x, tf.mul(gx2, ffx));
      c = tf.add(c, tf.mul(gc1, oc));
      const ffc = lin(
        s,
        pre + 'ff_context.net.2',
        gelu(lin(s, pre + 'ff_context.net.0.proj', tf.add(tf.mul(ln(c), tf.add(1, scc2)), shc2))),
      );
      c = tf.add(c, tf.mul(gc2, ffc));
    }
    const [scale, shift] = tf
      .split(lin(s, 'image_norm_out.linear', sy), 2, 1)
      .map((t) => tf.expandDims(t, 1));
    const out = lin(
      s,
      'image_proj_out',
      tf.add(tf.mul(ln(x), tf.add(1, scale)), shift),
    ).arraySync() as number[][][];
    // unpatchify by the spec's index rule: patch (i, j) vector index (r·p+q)·C+ch → pixel (ch, i·p+r, j·p+q)
    const vel = Array.from({ length: B }, () =>
      Array.from({ length: h }, () => Array.from({ length: w }, () => new Array(C).fill(0))),
    );
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < gh; i++) {
        for (let j = 0; j < gw; j++) {
          for (let r = 0; r < p; r++) {
            for (let q = 0; q < p; q++) {
              for (let ch = 0; ch < C; ch++)
                vel[b][i * p + r][j * p + q][ch] = out[b][i * gw + j][(r * p + q) * C + ch];
            }
          }
        }
      }
    }
    const logits = lin(s, 'text_proj_out', ln(c)) as tf.Tensor3D;
    return { velocity: tf.tensor4d(vel), logits };
  });
}
