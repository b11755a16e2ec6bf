import { initRuntime, tf } from '../../../server/runtime';
import { AutoencoderKL, type VaeConfig } from '../../../nodes/vae/model';
import { imageKey, samplePosterior } from '../../../nodes/training/posterior-cache';
import { maxAbsDiff, randomizeModule } from '../../helpers/random-state';

const CFG: VaeConfig = {
  in_channels: 3,
  out_channels: 3,
  block_out_channels: [8, 16],
  layers_per_block: 1,
  latent_channels: 4,
  norm_num_groups: 4,
  sample_size: 16,
  mid_block_add_attention: false,
  scaling_factor: 1.7,
  shift_factor: 0.2,
};

function image(seed: number): Float32Array {
  const px = new Float32Array(16 * 16 * 3);
  for (let i = 0; i < px.length; i++) px[i] = ((i * 7919 + seed * 104729) % 1000) / 1000;
  return px;
}

beforeAll(async () => {
  await initRuntime();
});

describe('VAE posterior cache for training batches', () => {
  test('samples from cached moments equal VAE encode with the same seed, on first and later visits', () => {
    const vae = randomizeModule(new AutoencoderKL(CFG), 3);
    const imgs = [image(1), image(2), image(1), image(3)];
    const batch = tf.tensor4d(Float32Array.from(imgs.flatMap((a) => [...a])), [4, 16, 16, 3]);
    const want = vae.encode(batch, { mode: 'sample', seed: 42 });
    const first = samplePosterior(vae, imgs, 16, 16, 42);
    const again = samplePosterior(vae, imgs, 16, 16, 42);
    expect(first.shape).toEqual(want.shape);
    expect(maxAbsDiff(first, want)).toBeLessThan(1e-5);
    expect(maxAbsDiff(again, want)).toBeLessThan(1e-5);
    const other = samplePosterior(vae, imgs, 16, 16, 43);
    expect(maxAbsDiff(other, want)).toBeGreaterThan(1e-3);
    tf.dispose([batch, want, first, again, other]);
    vae.dispose();
  });

  test('image keys follow the content, not the array', () => {
    expect(imageKey(image(1))).toBe(imageKey(image(1)));
    expect(imageKey(image(1))).not.toBe(imageKey(image(2)));
    const a = image(1);
    a[100] += 1e-6;
    expect(imageKey(a)).not.toBe(imageKey(image(1)));
  });
});
