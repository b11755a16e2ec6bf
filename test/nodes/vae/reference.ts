/**
 * Independent reading of diffusers' AutoencoderKL for tests: plain tfjs ops on a PyTorch-orientation state
 * map (conv (out, in, kh, kw), linear (out, in)). Shares no code with nodes/vae/model.ts.
 */
import { tf } from '../../../server/runtime';

type State = Map<string, tf.Tensor>;

function conv(
  s: State,
  name: string,
  x: tf.Tensor4D,
  stride = 1,
  pad: [number, number, number, number] = [1, 1, 1, 1],
): tf.Tensor4D {
  const w = tf.transpose(s.get(`${name}.weight`)!, [2, 3, 1, 0]) as tf.Tensor4D;
  const [t, b, l, r] = w.shape[0] === 1 ? [0, 0, 0, 0] : pad;
  const xp = tf.pad(x, [
    [0, 0],
    [t, b],
    [l, r],
    [0, 0],
  ]);
  return tf.add(tf.conv2d(xp, w, stride, 'valid'), s.get(`${name}.bias`)!);
}

function gn(s: State, name: string, x: tf.Tensor4D, groups: number): tf.Tensor4D {
  const [B, H, W, C] = x.shape;
  // NCHW view, as PyTorch computes it
  const nchw = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [B, groups, (C / groups) * H * W]);
  const m = tf.mean(nchw, 2, true);
  const v = tf.mean(tf.square(tf.sub(nchw, m)), 2, true);
  const y = tf.transpose(
    tf.reshape(tf.div(tf.sub(nchw, m), tf.sqrt(tf.add(v, 1e-6))), [B, C, H, W]),
    [0, 2, 3, 1],
  );
  return tf.add(tf.mul(y, s.get(`${name}.weight`)!), s.get(`${name}.bias`)!);
}

const silu = (x: tf.Tensor4D): tf.Tensor4D => tf.mul(x, tf.sigmoid(x));

function resnet(s: State, n: string, x: tf.Tensor4D, g: number): tf.Tensor4D {
  let h = conv(s, `${n}.conv1`, silu(gn(s, `${n}.norm1`, x, g)));
  h = conv(s, `${n}.conv2`, silu(gn(s, `${n}.norm2`, h, g)));
  const skip = s.has(`${n}.conv_shortcut.weight`) ? conv(s, `${n}.conv_shortcut`, x) : x;
  return tf.add(skip, h);
}

function attn(s: State, n: string, x: tf.Tensor4D, g: number): tf.Tensor4D {
  const [B, H, W, C] = x.shape;
  const h = tf.reshape(gn(s, `${n}.group_norm`, x, g), [B, H * W, C]);
  const lin = (k: string, t: tf.Tensor): tf.Tensor =>
    tf.add(
      tf.matMul(tf.reshape(t, [-1, C]), s.get(`${n}.${k}.weight`)!, false, true),
      s.get(`${n}.${k}.bias`)!,
    );
  const q = tf.reshape(lin('to_q', h), [B, H * W, C]);
  const k = tf.reshape(lin('to_k', h), [B, H * W, C]);
  const v = tf.reshape(lin('to_v', h), [B, H * W, C]);
  const a = tf.matMul(tf.softmax(tf.div(tf.matMul(q, k, false, true), Math.sqrt(C))), v);
  return tf.add(x, tf.reshape(lin('to_out.0', a), [B, H, W, C]));
}

function mid(s: State, n: string, x: tf.Tensor4D, g: number): tf.Tensor4D {
  return resnet(s, `${n}.resnets.1`, attn(s, `${n}.attentions.0`, resnet(s, `${n}.resnets.0`, x, g), g), g);
}

export interface RefVae {
  channels: number[];
  layers: number;
  groups: number;
  quant: boolean;
}

export function refEncode(s: State, c: RefVae, x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    let h = conv(s, 'encoder.conv_in', x);
    c.channels.forEach((_, i) => {
      for (let j = 0; j < c.layers; j++) h = resnet(s, `encoder.down_blocks.${i}.resnets.${j}`, h, c.groups);
      if (i < c.channels.length - 1)
        h = conv(s, `encoder.down_blocks.${i}.downsamplers.0.conv`, h, 2, [0, 1, 0, 1]);
    });
    h = mid(s, 'encoder.mid_block', h, c.groups);
    h = conv(s, 'encoder.conv_out', silu(gn(s, 'encoder.conv_norm_out', h, c.groups)));
    return c.quant ? conv(s, 'quant_conv', h) : h;
  });
}

export function refDecode(s: State, c: RefVae, z: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    let h = c.quant ? conv(s, 'post_quant_conv', z) : z;
    h = mid(s, 'decoder.mid_block', conv(s, 'decoder.conv_in', h), c.groups);
    c.channels.forEach((_, i) => {
      for (let j = 0; j < c.layers + 1; j++)
        h = resnet(s, `decoder.up_blocks.${i}.resnets.${j}`, h, c.groups);
      if (i < c.channels.length - 1) {
        const [, H, W] = h.shape;
        h = conv(
          s,
          `decoder.up_blocks.${i}.upsamplers.0.conv`,
          tf.image.resizeNearestNeighbor(h, [2 * H, 2 * W]),
        );
      }
    });
    return conv(s, 'decoder.conv_out', silu(gn(s, 'decoder.conv_norm_out', h, c.groups)));
  });
}
