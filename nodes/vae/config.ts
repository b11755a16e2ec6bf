/**
 * KL autoencoder configuration, field names as diffusers' AutoencoderKL config.json (so a reference config
 * loads as is), plus the latent→RGB preview factors.
 */
import type { LatentRgb } from '../sampling/interfaces';

export interface VaeConfig {
  in_channels?: number;
  out_channels?: number;
  /** One entry per resolution level; the downsampling factor is 2^(levels−1). */
  block_out_channels: number[];
  layers_per_block?: number;
  latent_channels: number;
  norm_num_groups?: number;
  /** Informational (pixel side the VAE was trained at). */
  sample_size?: number;
  /** z_dit = (z_raw − shift_factor)·scaling_factor. */
  scaling_factor?: number;
  shift_factor?: number | null;
  use_quant_conv?: boolean;
  use_post_quant_conv?: boolean;
  mid_block_add_attention?: boolean;
  /** Must be all DownEncoderBlock2D / UpDecoderBlock2D when given (the only kinds AutoencoderKL uses). */
  down_block_types?: string[];
  up_block_types?: string[];
  act_fn?: string;
  /** C×3 matrix and bias: rgb ∈ [−1, 1] ≈ z_dit·factors + bias (ComfyUI's latent2rgb), for previews. */
  latent_rgb_factors?: number[][];
  latent_rgb_bias?: number[];
}

export interface ResolvedVaeConfig {
  in_channels: number;
  out_channels: number;
  block_out_channels: number[];
  layers_per_block: number;
  latent_channels: number;
  norm_num_groups: number;
  sample_size: number;
  scaling_factor: number;
  shift_factor: number;
  use_quant_conv: boolean;
  use_post_quant_conv: boolean;
  mid_block_add_attention: boolean;
  latent_rgb: LatentRgb | null;
  /** 2^(levels − 1). */
  downsample_factor: number;
}

/** SD3's 16-channel VAE (spec §4). */
export const SD3_VAE_CONFIG: VaeConfig = {
  in_channels: 3,
  out_channels: 3,
  block_out_channels: [128, 256, 512, 512],
  layers_per_block: 2,
  latent_channels: 16,
  norm_num_groups: 32,
  sample_size: 1024,
  scaling_factor: 1.5305,
  shift_factor: 0.0609,
  use_quant_conv: false,
  use_post_quant_conv: false,
  mid_block_add_attention: true,
};

export function resolveVaeConfig(c: VaeConfig): ResolvedVaeConfig {
  const fail = (msg: string): never => {
    throw new Error(`VAE config: ${msg}`);
  };
  if (!Array.isArray(c.block_out_channels) || c.block_out_channels.length === 0)
    fail('block_out_channels must be a non-empty list');
  const groups = c.norm_num_groups ?? 32;
  for (const ch of c.block_out_channels) {
    if (!Number.isInteger(ch) || ch <= 0 || ch % groups !== 0) {
      fail(
        `every block_out_channels entry must be a positive multiple of norm_num_groups (${groups}), got ${ch}`,
      );
    }
  }
  if (!Number.isInteger(c.latent_channels) || c.latent_channels <= 0)
    fail('latent_channels must be a positive integer');
  for (const t of c.down_block_types ?? [])
    if (t !== 'DownEncoderBlock2D') fail(`unsupported down block '${t}'`);
  for (const t of c.up_block_types ?? []) if (t !== 'UpDecoderBlock2D') fail(`unsupported up block '${t}'`);
  if (c.act_fn !== undefined && c.act_fn !== 'silu') fail(`unsupported act_fn '${c.act_fn}' (only silu)`);
  const levels = c.block_out_channels.length;
  if (c.down_block_types && c.down_block_types.length !== levels)
    fail('down_block_types must match block_out_channels');
  let latentRgb: LatentRgb | null = null;
  if (c.latent_rgb_factors) {
    const f = c.latent_rgb_factors;
    if (f.length !== c.latent_channels || f.some((r) => r.length !== 3)) {
      fail(`latent_rgb_factors must be ${c.latent_channels}×3`);
    }
    latentRgb = { factors: f.map((r) => r.slice()), bias: (c.latent_rgb_bias ?? [0, 0, 0]).slice() };
  }
  return {
    in_channels: c.in_channels ?? 3,
    out_channels: c.out_channels ?? 3,
    block_out_channels: c.block_out_channels.slice(),
    layers_per_block: c.layers_per_block ?? 2,
    latent_channels: c.latent_channels,
    norm_num_groups: groups,
    sample_size: c.sample_size ?? 256,
    scaling_factor: c.scaling_factor ?? 1,
    shift_factor: c.shift_factor ?? 0,
    use_quant_conv: c.use_quant_conv ?? true,
    use_post_quant_conv: c.use_post_quant_conv ?? true,
    mid_block_add_attention: c.mid_block_add_attention ?? true,
    latent_rgb: latentRgb,
    downsample_factor: 2 ** (levels - 1),
  };
}
