import { tf } from '../../../server/runtime';
import { AutoencoderKL, type VaeConfig } from '../../../nodes/vae/model';
import { fitLatentRgb, fitLatentRgbForVae } from '../../../nodes/vae/latent-rgb';
import { torchShape } from '../../../server/runtime/nn';
import { Rng } from '../../../server/runtime/nn/random';
import {
  BACKENDS,
  gradCheck,
  maxAbsDiff,
  randn,
  useBackend,
  variableGradCheck,
} from '../../helpers/gradcheck';
import { refDecode, refEncode } from './reference';

const CFG: VaeConfig = {
  block_out_channels: [4, 8],
  layers_per_block: 1,
  latent_channels: 3,
  norm_num_groups: 2,
  scaling_factor: 1.5,
  shift_factor: 0.1,
  use_quant_conv: true,
  use_post_quant_conv: true,
};

function randomState(vae: AutoencoderKL, seed: number): Map<string, tf.Tensor> {
  const m = new Map<string, tf.Tensor>();
  vae.namedParameters().forEach(([n, p], i) => {
    const isNormWeight = /norm.*\.weight$/.test(n);
    const t = randn(torchShape(p.shape, p.layout), seed * 1000 + i, 0.3);
    m.set(n, isNormWeight ? tf.add(t, 1) : t);
  });
  return m;
}

function image(seed: number, B = 2, H = 8, W = 8): tf.Tensor4D {
  const n = B * H * W * 3;
  return tf.tensor(new Rng(seed).fillUniform(new Float32Array(n)), [B, H, W, 3]) as tf.Tensor4D;
}

describe.each(BACKENDS)('AutoencoderKL on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  test('diffusers parameter names and config-driven layout', () => {
    const vae = new AutoencoderKL({ ...CFG, block_out_channels: [4, 8, 8], layers_per_block: 2 });
    const names = vae.namedParameters().map(([n]) => n);
    for (const n of [
      'encoder.conv_in.weight',
      'encoder.down_blocks.0.resnets.1.norm2.weight',
      'encoder.down_blocks.0.resnets.0.conv1.weight',
      'encoder.down_blocks.1.resnets.0.conv_shortcut.weight',
      'encoder.down_blocks.1.downsamplers.0.conv.weight',
      'encoder.mid_block.attentions.0.to_q.weight',
      'encoder.mid_block.attentions.0.to_out.0.bias',
      'encoder.mid_block.resnets.1.conv2.bias',
      'encoder.conv_norm_out.weight',
      'encoder.conv_out.weight',
      'quant_conv.weight',
      'post_quant_conv.weight',
      'decoder.conv_in.weight',
      'decoder.up_blocks.0.resnets.2.conv1.weight',
      'decoder.up_blocks.1.upsamplers.0.conv.weight',
      'decoder.up_blocks.2.resnets.0.conv_shortcut.weight',
      'decoder.conv_out.bias',
    ]) {
      expect(names).toContain(n);
    }
    expect(names).not.toContain('encoder.down_blocks.2.downsamplers.0.conv.weight');
    expect(names).not.toContain('decoder.up_blocks.2.upsamplers.0.conv.weight');
    expect(vae.config.downsample_factor).toBe(4);
    const noQuant = new AutoencoderKL({ ...CFG, use_quant_conv: false, use_post_quant_conv: false });
    expect(noQuant.namedParameters().map(([n]) => n)).not.toContain('quant_conv.weight');
    expect(() => new AutoencoderKL({ ...CFG, norm_num_groups: 3 })).toThrow(/multiple of norm_num_groups/);
  });

  test('encoder and decoder equal an independent reading of AutoencoderKL (PyTorch-orientation state)', () => {
    const vae = new AutoencoderKL(CFG);
    const st = randomState(vae, 1);
    vae.loadState(st);
    const x = tf.sub(tf.mul(image(2), 2), 1) as tf.Tensor4D;
    const rc = { channels: [4, 8], layers: 1, groups: 2, quant: true };
    const { mean, logvar } = vae.encodeMoments(x);
    const ref = refEncode(st, rc, x);
    expect(mean.shape).toEqual([2, 4, 4, 3]);
    expect(maxAbsDiff(tf.concat([mean, logvar], 3), tf.clipByValue(ref, -30, 20))).toBeLessThan(1e-3);
    const z = randn([2, 4, 4, 3], 3) as tf.Tensor4D;
    const dec = vae.decodeRaw(z);
    expect(dec.shape).toEqual([2, 8, 8, 3]);
    expect(maxAbsDiff(dec, refDecode(st, rc, z))).toBeLessThan(1e-3);
    vae.dispose();
  });

  test('encode: scaling/shift, seeded posterior samples, mean mode; decode maps to [0,1]', () => {
    const vae = new AutoencoderKL(CFG).initialize(4);
    const img = image(5);
    const { mean } = vae.encodeMoments(tf.sub(tf.mul(img, 2), 1) as tf.Tensor4D);
    const zMean = vae.encode(img, { mode: 'mean' });
    expect(maxAbsDiff(zMean, tf.mul(tf.sub(mean, 0.1), 1.5))).toBeLessThan(1e-5);
    const a = vae.encode(img, { seed: 7 });
    const b = vae.encode(img, { seed: 7 });
    const c = vae.encode(img, { seed: 8 });
    expect(maxAbsDiff(a, b)).toBe(0);
    expect(maxAbsDiff(a, c)).toBeGreaterThan(0);
    const out = vae.decode(a);
    expect(out.shape).toEqual([2, 8, 8, 3]);
    const raw = vae.decodeRaw(tf.add(tf.div(a, 1.5), 0.1) as tf.Tensor4D);
    expect(maxAbsDiff(out, tf.clipByValue(tf.div(tf.add(raw, 1), 2), 0, 1))).toBeLessThan(1e-5);
    expect(() => vae.encode(image(1, 1, 5, 8))).toThrow(/not divisible by 2/);
    expect(() => vae.decode(randn([1, 2, 2, 4], 1) as tf.Tensor4D)).toThrow(/4 channels/);
    vae.dispose();
  });

  test('no tensor leaks over repeated encode/decode', () => {
    const vae = new AutoencoderKL(CFG).initialize(1);
    const img = image(1);
    const run = (): void => {
      const z = vae.encode(img, { seed: 1 });
      vae.decode(z).dispose();
      z.dispose();
    };
    run();
    const n0 = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) run();
    expect(tf.memory().numTensors).toBe(n0);
    vae.dispose();
  });

  test('old diffusers attention names (query/key/value/proj_attn) load', () => {
    const vae = new AutoencoderKL(CFG);
    const st = randomState(vae, 2);
    for (const side of ['encoder', 'decoder']) {
      for (const [cur, old] of [
        ['to_q', 'query'],
        ['to_out.0', 'proj_attn'],
      ]) {
        for (const wb of ['weight', 'bias']) {
          const p = `${side}.mid_block.attentions.0.`;
          st.set(`${p}${old}.${wb}`, st.get(`${p}${cur}.${wb}`)!);
          st.delete(`${p}${cur}.${wb}`);
        }
      }
    }
    expect(vae.loadState(st).missing).toEqual([]);
    vae.dispose();
  });
});

describe('VAE gradients (finite differences, wasm with the runtime kernels)', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });

  test('through encoder and decoder, in the input and in parameters of each layer kind', () => {
    const vae = new AutoencoderKL({ ...CFG, block_out_channels: [2, 4], latent_channels: 2 });
    const st = randomState(vae, 3);
    vae.loadState(st);
    const x = randn([1, 4, 4, 3], 4, 0.5);
    const enc = (t: tf.Tensor): tf.Tensor => vae.encodeMoments(t as tf.Tensor4D).mean;
    for (const e of gradCheck(enc, [x], { samples: 4 }).relErrors) expect(e).toBeLessThan(3e-2);
    const z = randn([1, 2, 2, 2], 5, 0.5);
    for (const e of gradCheck((t) => vae.decodeRaw(t as tf.Tensor4D), [z], { samples: 4 }).relErrors) {
      expect(e).toBeLessThan(3e-2);
    }
    const params = new Map(vae.namedParameters());
    for (const name of [
      'encoder.down_blocks.0.downsamplers.0.conv.weight',
      'encoder.mid_block.attentions.0.to_k.weight',
      'decoder.up_blocks.0.upsamplers.0.conv.weight',
      'decoder.up_blocks.1.resnets.0.conv_shortcut.weight',
    ]) {
      const f = name.startsWith('encoder') ? () => enc(x) : () => vae.decodeRaw(z as tf.Tensor4D);
      const err = variableGradCheck(f, params.get(name)!.value, { samples: 3 });
      expect([name, err < 3e-2]).toEqual([name, true]);
    }
    vae.dispose();
  });
});

describe('latent → RGB factors', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  test('least squares recovers a known linear map from pooled images', () => {
    const F = [
      [0.5, -0.2, 0.1],
      [0.0, 0.3, -0.4],
      [0.2, 0.2, 0.2],
      [-0.1, 0.0, 0.6],
    ];
    const bias = [0.05, -0.1, 0.2];
    const z = randn([3, 4, 5, 4], 9, 0.8) as tf.Tensor4D;
    const rgb = tf.add(tf.matMul(tf.reshape(z, [-1, 4]), tf.tensor2d(F)), tf.tensor1d(bias));
    const small = tf.reshape(tf.div(tf.add(rgb, 1), 2), [3, 4, 5, 3]) as tf.Tensor4D;
    const big = tf.image.resizeNearestNeighbor(small, [8, 10]); // each latent cell covers a 2×2 block
    const fit = fitLatentRgb(z, big);
    fit.factors.forEach((row, i) => row.forEach((v, k) => expect(v).toBeCloseTo(F[i][k], 4)));
    fit.bias.forEach((v, k) => expect(v).toBeCloseTo(bias[k], 4));
    expect(() => fitLatentRgb(z, tf.zeros([3, 9, 10, 3]) as tf.Tensor4D)).toThrow(/whole multiple/);
  });

  test('fitting through a VAE gives factors of the right shape that go in its config', async () => {
    const vae = new AutoencoderKL(CFG).initialize(3);
    const fit = await fitLatentRgbForVae(vae, image(3, 4));
    expect(fit.factors.length).toBe(3);
    expect(fit.factors.every((r) => r.length === 3)).toBe(true);
    const withFactors = new AutoencoderKL({
      ...CFG,
      latent_rgb_factors: fit.factors,
      latent_rgb_bias: fit.bias,
    });
    expect(withFactors.latentRgb).toEqual(fit);
    expect(() => new AutoencoderKL({ ...CFG, latent_rgb_factors: [[1, 2, 3]] })).toThrow(/3×3/);
    vae.dispose();
  });
});
