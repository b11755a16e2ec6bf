/**
 * ONNX export of the KL autoencoder (model.ts), built from the same Modules and weights. Convolutions run
 * NCHW inside the graph; the graph edges are NHWC like every image and latent in ddit-studio.
 *
 *   decoder  latent [B, h, w, C] (DiT space: shifted and scaled) → image [B, H, W, 3] in [0, 1]
 *            (meets VAE_DECODER_CONTRACT of server/runtime/onnx.ts: the graph undoes the latent scaling and
 *            maps [−1, 1] to [0, 1] itself)
 *   encoder  image [B, H, W, 3] in [0, 1] → mean, logvar [B, h, w, C]: the raw posterior (before shift and
 *            scale; logvar clamped to [−30, 20]), so the caller can take the mean or draw a seeded sample
 * B, h, w (and H, W) are dynamic.
 */
import { OnnxGraph } from '../../server/runtime/onnx-graph';
import { type EmitOptions, OnnxEmitter } from '../../server/runtime/nn/onnx';
import type { AutoencoderKL } from './model';

export type VaePart = 'decoder' | 'encoder';

export interface VaeExportOptions extends EmitOptions {
  metadata?: Record<string, string>;
}

// The block classes of model.ts are internal; their types are reached through the public fields.
type MidLike = AutoencoderKL['decoder']['mid'];
type ResnetLike = MidLike['res0'];
type AttnLike = NonNullable<MidLike['attn']>;

function resnet(e: OnnxEmitter, r: ResnetLike, x: string): string {
  let h = e.conv(e.silu(e.groupNorm(x, r.norm1)), r.conv1);
  h = e.conv(e.silu(e.groupNorm(h, r.norm2)), r.conv2);
  const skip = r.shortcut ? e.conv(x, r.shortcut) : x;
  return e.g.op('Add', [skip, h]);
}

/** Single-head attention over the H·W positions of x [B, C, H, W], with the residual. */
function spatialAttention(e: OnnxEmitter, a: AttnLike, x: string, channels: number): string {
  const g = e.g;
  const tokens = g.transpose(g.reshape(e.groupNorm(x, a.norm), [0, channels, -1]), [0, 2, 1]);
  const q = e.linear(tokens, a.toQ);
  const k = e.linear(tokens, a.toK);
  const v = e.linear(tokens, a.toV);
  const o = e.linear(e.attention(q, k, v, { heads: 1, width: channels }), a.toOut);
  const back = g.op('Reshape', [g.transpose(o, [0, 2, 1]), g.op('Shape', [x])]);
  return g.op('Add', [x, back]);
}

function mid(e: OnnxEmitter, m: MidLike, x: string, channels: number): string {
  let h = resnet(e, m.res0, x);
  if (m.attn) h = spatialAttention(e, m.attn, h, channels);
  return resnet(e, m.res1, h);
}

function emitDecoder(e: OnnxEmitter, vae: AutoencoderKL, latent: string): string {
  const g = e.g;
  const cfg = vae.config;
  const dec = vae.decoder;
  // z_raw = latent / scaling_factor + shift_factor, then NCHW
  let z = g.op('Div', [latent, g.floatConst(cfg.scaling_factor)]);
  if (cfg.shift_factor !== 0) z = g.op('Add', [z, g.floatConst(cfg.shift_factor)]);
  let h = g.transpose(z, [0, 3, 1, 2]);
  if (vae.postQuantConv) h = e.conv(h, vae.postQuantConv);
  const rev = cfg.block_out_channels.slice().reverse();
  h = mid(e, dec.mid, e.conv(h, dec.convIn), rev[0]);
  for (const up of dec.ups) {
    for (const r of up.resnets) h = resnet(e, r, h);
    if (up.up) {
      const resized = g.op('Resize', [h, '', g.weight('scales_2x', new Float32Array([1, 1, 2, 2]), [4])], {
        mode: 'nearest',
        coordinate_transformation_mode: 'asymmetric',
        nearest_mode: 'floor',
      });
      h = e.conv(resized, up.up);
    }
  }
  const x = e.conv(e.silu(e.groupNorm(h, dec.normOut)), dec.convOut);
  // [−1, 1] → [0, 1], clamped, NHWC
  const unit = g.op('Mul', [g.op('Add', [x, g.floatConst(1)]), g.floatConst(0.5)]);
  const clipped = g.op('Clip', [unit, g.floatConst(0), g.floatConst(1)]);
  return g.transpose(clipped, [0, 2, 3, 1]);
}

function emitEncoder(e: OnnxEmitter, vae: AutoencoderKL, image: string): [string, string] {
  const g = e.g;
  const cfg = vae.config;
  const enc = vae.encoder;
  const x = g.op('Sub', [g.op('Mul', [image, g.floatConst(2)]), g.floatConst(1)]);
  let h = e.conv(g.transpose(x, [0, 3, 1, 2]), enc.convIn);
  for (const down of enc.downs) {
    for (const r of down.resnets) h = resnet(e, r, h);
    // diffusers pads (right 1, bottom 1) before the stride-2 valid conv
    if (down.down) h = e.conv(h, down.down, [0, 0, 1, 1]);
  }
  const top = cfg.block_out_channels[cfg.block_out_channels.length - 1];
  h = mid(e, enc.mid, h, top);
  let m = e.conv(e.silu(e.groupNorm(h, enc.normOut)), enc.convOut);
  if (vae.quantConv) m = e.conv(m, vae.quantConv);
  const L = cfg.latent_channels;
  const [mean, logvar] = g.opMulti('Split', [m, g.ints([L, L])], 2, { axis: 1 });
  const clamped = g.op('Clip', [logvar, g.floatConst(-30), g.floatConst(20)]);
  return [g.transpose(mean, [0, 2, 3, 1]), g.transpose(clamped, [0, 2, 3, 1])];
}

/** Builds the decoder or encoder graph (see the file comment). */
export function buildVaeGraph(vae: AutoencoderKL, part: VaePart, opts: VaeExportOptions = {}): OnnxGraph {
  const cfg = vae.config;
  const g = new OnnxGraph(`vae_${part}`, opts.metadata);
  const e = new OnnxEmitter(g, vae, opts);
  const L = cfg.latent_channels;
  if (part === 'decoder') {
    const latent = g.input('latent', 'float32', ['B', 'h', 'w', L]);
    g.output('image', 'float32', ['B', 'H', 'W', cfg.out_channels], emitDecoder(e, vae, latent));
  } else {
    const image = g.input('image', 'float32', ['B', 'H', 'W', cfg.in_channels]);
    const [mean, logvar] = emitEncoder(e, vae, image);
    g.output('mean', 'float32', ['B', 'h', 'w', L], mean);
    g.output('logvar', 'float32', ['B', 'h', 'w', L], logvar);
  }
  return g;
}
