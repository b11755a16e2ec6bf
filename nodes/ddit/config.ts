/**
 * D-DiT transformer configuration. Field names follow diffusers' SD3Transformer2DModel config.json so a
 * reference config loads as is; `vocab_size`, `null_image_tokens` and `mask_token_id` are the D-DiT additions.
 */
export interface DDiTConfig {
  /** Latent side S used to scale the position table (base grid S/p). */
  sample_size: number;
  patch_size: number;
  in_channels: number;
  /** Defaults to in_channels. */
  out_channels?: number;
  num_layers: number;
  num_attention_heads: number;
  attention_head_dim: number;
  /** Text-encoder width d_enc. */
  joint_attention_dim: number;
  /** Must equal the model width D = heads · head dim when given. */
  caption_projection_dim?: number;
  /** G: the position table is G×G. */
  pos_embed_max_size: number;
  /** V: columns of the text head. */
  vocab_size: number;
  /** Null image tokens for text-only calls (reference 8; 0 = none). */
  null_image_tokens?: number;
  /** The mask token's id (its logit column is forced to −∞ by callers). */
  mask_token_id?: number;
  /** Accepted and ignored (SD3's pooled-text width; D-DiT removes pooled text). */
  pooled_projection_dim?: number;
  /**
   * Not in D-DiT (a documented deviation for models trained from scratch): 'mean' adds SD3's pooled-text
   * path back, fed with the mean of the encoder states over the M positions — y = MLP(e(τ)) +
   * MLP_text(mean(E)). Without a pretrained text-to-image model underneath, attention alone was slow to
   * make the image depend on the prompt. Default 'none' (the spec).
   */
  text_pooling?: TextPooling;
}

export const TEXT_POOLINGS = ['none', 'mean'] as const;
export type TextPooling = (typeof TEXT_POOLINGS)[number];

export interface ResolvedDDiTConfig extends Required<
  Omit<DDiTConfig, 'caption_projection_dim' | 'pooled_projection_dim'>
> {
  /** Model width D. */
  width: number;
}

/** SD3-medium D-DiT as in the spec §1.1. */
export const DDIT_REFERENCE_CONFIG: DDiTConfig = {
  sample_size: 128,
  patch_size: 2,
  in_channels: 16,
  out_channels: 16,
  num_layers: 24,
  num_attention_heads: 24,
  attention_head_dim: 64,
  joint_attention_dim: 4096,
  caption_projection_dim: 1536,
  pos_embed_max_size: 192,
  vocab_size: 32100,
  null_image_tokens: 8,
  mask_token_id: 32099,
};

export function resolveDDiTConfig(c: DDiTConfig): ResolvedDDiTConfig {
  const width = c.num_attention_heads * c.attention_head_dim;
  const need = (k: keyof DDiTConfig): void => {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new Error(`D-DiT config: '${k}' must be a positive integer, got ${JSON.stringify(v)}`);
    }
  };
  for (const k of [
    'sample_size',
    'patch_size',
    'in_channels',
    'num_layers',
    'num_attention_heads',
    'attention_head_dim',
    'joint_attention_dim',
    'pos_embed_max_size',
    'vocab_size',
  ] as const) {
    need(k);
  }
  if (c.caption_projection_dim !== undefined && c.caption_projection_dim !== width) {
    throw new Error(
      `D-DiT config: caption_projection_dim ${c.caption_projection_dim} must equal the width ${width}`,
    );
  }
  const pooling = c.text_pooling ?? 'none';
  if (!(TEXT_POOLINGS as readonly string[]).includes(pooling)) {
    throw new Error(
      `D-DiT config: 'text_pooling' must be one of ${TEXT_POOLINGS.join(', ')}, got ${JSON.stringify(c.text_pooling)}`,
    );
  }
  if (width % 4 !== 0)
    throw new Error(`D-DiT config: width ${width} must be divisible by 4 (2-D sin-cos table)`);
  return {
    sample_size: c.sample_size,
    patch_size: c.patch_size,
    in_channels: c.in_channels,
    out_channels: c.out_channels ?? c.in_channels,
    num_layers: c.num_layers,
    num_attention_heads: c.num_attention_heads,
    attention_head_dim: c.attention_head_dim,
    joint_attention_dim: c.joint_attention_dim,
    pos_embed_max_size: c.pos_embed_max_size,
    vocab_size: c.vocab_size,
    null_image_tokens: c.null_image_tokens ?? 0,
    mask_token_id: c.mask_token_id ?? c.vocab_size - 1,
    text_pooling: pooling,
    width,
  };
}
