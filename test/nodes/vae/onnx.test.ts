import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initRuntime, tf } from '../../../server/runtime';
import { OnnxVaeDecoder } from '../../../server/runtime/onnx';
import { AutoencoderKL, type VaeConfig } from '../../../nodes/vae/model';
import { exportVae, OnnxAutoencoderKL } from '../../../nodes/vae/onnx';
import { maxAbsDiff, randomizeModule } from '../../helpers/random-state';

const CFG: VaeConfig = {
  block_out_channels: [4, 8, 8],
  norm_num_groups: 2,
  latent_channels: 3,
  layers_per_block: 1,
  scaling_factor: 1.3,
  shift_factor: 0.1,
};

let dir: string;
beforeAll(async () => {
  await initRuntime({ backend: 'cpu' });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-onnx-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const TOL = 1e-4;

describe.each([
  ['quant convs, mid attention', CFG],
  [
    'no quant convs, no mid attention',
    { ...CFG, use_quant_conv: false, use_post_quant_conv: false, mid_block_add_attention: false },
  ],
])('OnnxAutoencoderKL (%s) agrees with the tfjs AutoencoderKL', (_label, cfg) => {
  let vae: AutoencoderKL;
  let onnx: OnnxAutoencoderKL;
  beforeAll(async () => {
    vae = randomizeModule(new AutoencoderKL(cfg), 5);
    onnx = await OnnxAutoencoderKL.fromModel(vae, { cacheDir: dir });
  });
  afterAll(() => {
    onnx.dispose();
    vae.dispose();
  });

  it('decodes DiT-space latents of several sizes to the same images', async () => {
    for (const shape of [
      [2, 4, 6, 3],
      [1, 3, 3, 3],
    ]) {
      const latent = tf.randomNormal(
        shape as [number, number, number, number],
        0,
        1,
        'float32',
        shape[1],
      ) as tf.Tensor4D;
      const ref = vae.decode(latent);
      const got = await onnx.decode(latent);
      expect(got.shape).toEqual([shape[0], shape[1] * 4, shape[2] * 4, 3]);
      expect(maxAbsDiff(got, ref)).toBeLessThan(TOL);
      tf.dispose([latent, ref, got]);
    }
  });

  it('encodes to the posterior mean, and to the same seeded sample', async () => {
    const image = tf.randomUniform([2, 16, 8, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    for (const opts of [{ mode: 'mean' as const }, { mode: 'sample' as const, seed: 42 }, {}]) {
      const ref = vae.encode(image, opts);
      const got = await onnx.encode(image, opts);
      expect(got.shape).toEqual([2, 4, 2, 3]);
      expect(maxAbsDiff(got, ref)).toBeLessThan(TOL);
      tf.dispose([ref, got]);
    }
    await expect(onnx.encode(tf.zeros([1, 6, 8, 3]) as tf.Tensor4D)).rejects.toThrow('not divisible by 4');
    image.dispose();
  });

  it('exports a decoder that meets the runtime VAE-decoder contract', async () => {
    const dec = await OnnxVaeDecoder.load(exportVae(vae, 'decoder', { cacheDir: dir }));
    const latent = tf.randomNormal([1, 2, 2, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const ref = vae.decode(latent);
    const got = await dec.decode(latent);
    expect(maxAbsDiff(got, ref)).toBeLessThan(TOL);
    dec.dispose();
    tf.dispose([latent, ref, got]);
  });
});

it('a VAE opened from a decoder file alone decodes and says it cannot encode', async () => {
  const vae = randomizeModule(new AutoencoderKL(CFG), 6);
  const onnx = await OnnxAutoencoderKL.load(vae.config, {
    decoder: exportVae(vae, 'decoder', { cacheDir: dir }),
  });
  const latent = tf.randomNormal([1, 2, 2, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
  expect(maxAbsDiff(await onnx.decode(latent), vae.decode(latent))).toBeLessThan(TOL);
  await expect(onnx.decode(tf.zeros([1, 2, 2, 4]) as tf.Tensor4D)).rejects.toThrow('latent has 4 channels');
  await expect(onnx.encode(tf.zeros([1, 8, 8, 3]) as tf.Tensor4D)).rejects.toThrow(
    'without an encoder graph',
  );
  onnx.dispose();
  vae.dispose();
});
