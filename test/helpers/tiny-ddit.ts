/**
 * Tiny real models for sampler and training tests: the project's D-DiT, KL VAE and T5 encoder classes at
 * toy sizes, with the bundled word-level tokenizer. Everything is seeded, so tests are reproducible.
 */
import * as path from 'path';
import { tf } from '../../server/runtime/tf';
import { DDiT, type DDiTConfig } from '../../nodes/ddit/model';
import { AutoencoderKL, type VaeConfig } from '../../nodes/vae/model';
import { T5Encoder, type T5Config } from '../../nodes/text/t5';
import { TextTokenizer } from '../../nodes/text/tokenizer';

export const TOKENIZER_FILE = path.resolve(__dirname, '..', '..', 'models', 'tokenizer.json');

export interface TinyModels {
  tokenizer: TextTokenizer;
  encoder: T5Encoder;
  vae: AutoencoderKL;
  model: DDiT;
  /** Image side in pixels; latents are side/2 with 4 channels. */
  imageSize: number;
  dispose(): void;
}

export interface TinySizes {
  width?: number;
  heads?: number;
  layers?: number;
  encoderWidth?: number;
  imageSize?: number;
}

/**
 * A VAE whose posterior has negligible variance (log-variance bias −30), so that latents carry the image
 * instead of the sampling noise of an untrained encoder.
 */
export function tinyVae(seed: number, latentRgb = true): AutoencoderKL {
  const cfg: VaeConfig = {
    block_out_channels: [8, 8],
    layers_per_block: 1,
    latent_channels: 4,
    norm_num_groups: 4,
    use_quant_conv: false,
    use_post_quant_conv: false,
    mid_block_add_attention: false,
    scaling_factor: 2,
    ...(latentRgb
      ? {
          latent_rgb_factors: [
            [0.3, 0, 0],
            [0, 0.3, 0],
            [0, 0, 0.3],
            [0.1, 0.1, 0.1],
          ],
          latent_rgb_bias: [0, 0, 0],
        }
      : {}),
  };
  const vae = new AutoencoderKL(cfg).initialize(seed);
  const bias = vae.namedParameters().find(([n]) => n === 'encoder.conv_out.bias')![1];
  const b = bias.value.dataSync().slice();
  for (let i = 4; i < 8; i++) b[i] = -30;
  bias.set(tf.tensor1d(b));
  return vae;
}

export function tinyModels(seed = 0, sizes: TinySizes = {}): TinyModels {
  const tokenizer = TextTokenizer.fromFile(TOKENIZER_FILE);
  const encWidth = sizes.encoderWidth ?? 16;
  const t5: T5Config = {
    vocab_size: tokenizer.vocabSize,
    d_model: encWidth,
    d_kv: 8,
    d_ff: 2 * encWidth,
    num_layers: 1,
    num_heads: 2,
    feed_forward_proj: 'gated-gelu',
  };
  const imageSize = sizes.imageSize ?? 8;
  const heads = sizes.heads ?? 2;
  const dit: DDiTConfig = {
    sample_size: imageSize / 2,
    patch_size: 2,
    in_channels: 4,
    num_layers: sizes.layers ?? 1,
    num_attention_heads: heads,
    attention_head_dim: (sizes.width ?? 16) / heads,
    joint_attention_dim: encWidth,
    pos_embed_max_size: 8,
    vocab_size: tokenizer.vocabSize,
    mask_token_id: tokenizer.maskId,
  };
  const encoder = new T5Encoder(t5).initialize(seed + 1);
  const vae = tinyVae(seed + 2);
  const model = new DDiT(dit).initialize(seed + 3);
  return {
    tokenizer,
    encoder,
    vae,
    model,
    imageSize,
    dispose: () => {
      encoder.dispose();
      vae.dispose();
      model.dispose();
    },
  };
}
