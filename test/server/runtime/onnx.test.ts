import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { onnx } from 'onnx-proto';
import { tf } from '../../../server/runtime/tf';
import {
  OnnxModel,
  OnnxVaeDecoder,
  VAE_DECODER_CONTRACT,
  assertContract,
  fromOrtTensor,
  onnxRuntimeInfo,
  toOrtTensor,
} from '../../../server/runtime/onnx';
import { encodeModel, tinyVaeDecoderOnnx, valueInfo } from '../../helpers/onnx-tiny';
import { sizeOfValue, disposeValue } from '../../../server/engine/value-hooks';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-test-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('onnxruntime-node', () => {
  it('reports its version, providers and threads', () => {
    const info = onnxRuntimeInfo();
    expect(info.version).toMatch(/^1\.\d+\.\d+/);
    expect(info.providers).toContain('cpu');
    expect(info.providers.includes('cuda')).toBe(info.cuda);
    expect(info.threads).toBeGreaterThanOrEqual(1);
  });
});

describe('OnnxModel', () => {
  it('runs a tiny decoder from bytes and from a file, matching the same computation in tfjs', async () => {
    const dec = tinyVaeDecoderOnnx({ latentChannels: 4, factor: 2 });
    const file = path.join(dir, 'decoder.onnx');
    fs.writeFileSync(file, dec.bytes);
    const latent = tf.randomNormal([2, 3, 5, 4], 0, 1, 'float32', 1) as tf.Tensor4D;
    const expected = dec.reference(latent);
    for (const source of [dec.bytes, file]) {
      const model = await OnnxModel.load(source);
      try {
        expect(model.provider).toBe(onnxRuntimeInfo().cuda ? 'cuda' : 'cpu');
        expect(model.inputs).toEqual([{ name: 'latent', type: 'float32', shape: ['B', 'h', 'w', 4] }]);
        expect(model.outputNames).toEqual(['image']);
        expect(model.label).toBe(typeof source === 'string' ? 'decoder.onnx' : 'onnx model');
        const { image } = await model.run({ latent });
        expect(image.shape).toEqual([2, 6, 10, 3]);
        expect(maxAbsDiff(image.dataSync(), expected.dataSync())).toBeLessThan(1e-5);
        image.dispose();
      } finally {
        model.dispose();
      }
    }
    tf.dispose([latent, expected]);
  });

  it('rejects bad feeds with errors naming the model and the input', async () => {
    const model = await OnnxModel.load(tinyVaeDecoderOnnx().bytes, { label: 'vae.onnx' });
    const ok = tf.zeros([1, 2, 2, 4]);
    const wrongC = tf.zeros([1, 2, 2, 3]);
    const wrongRank = tf.zeros([2, 2, 4]);
    try {
      await expect(model.run({ latent: wrongC })).rejects.toThrow(
        'ONNX model "vae.onnx": input "latent" expects float32 [B,h,w,4], got float32 [1,2,2,3]',
      );
      await expect(model.run({ latent: wrongRank })).rejects.toThrow(/input "latent" expects/);
      await expect(model.run({})).rejects.toThrow('ONNX model "vae.onnx": missing input "latent" [B,h,w,4]');
      await expect(model.run({ latent: ok, extra: ok })).rejects.toThrow(
        'unknown input "extra" (inputs: latent)',
      );
      await expect(model.run({ latent: ok }, ['rgb'])).rejects.toThrow(
        'unknown output "rgb" (outputs: image)',
      );
      await expect(model.run({ latent: tf.zeros([1, 2, 2, 4], 'int32') })).rejects.toThrow(
        'input "latent": cannot feed a int32 tensor as ONNX float32',
      );
    } finally {
      model.dispose();
      tf.dispose([ok, wrongC, wrongRank]);
    }
    await expect(model.run({ latent: ok })).rejects.toThrow(/disposed/);
  });

  it('fails clearly on missing files, garbage bytes and an unavailable CUDA provider', async () => {
    await expect(OnnxModel.load(path.join(dir, 'nope.onnx'))).rejects.toThrow(
      `ONNX model "nope.onnx": file not found: ${path.join(dir, 'nope.onnx')}`,
    );
    await expect(OnnxModel.load(new Uint8Array([1, 2, 3, 4]), { label: 'junk' })).rejects.toThrow(
      /ONNX model "junk": cannot load: /,
    );
    if (!onnxRuntimeInfo().cuda) {
      await expect(
        OnnxModel.load(tinyVaeDecoderOnnx().bytes, { device: 'cuda', label: 'd' }),
      ).rejects.toThrow(
        'ONNX model "d": CUDA was requested but onnxruntime-node has no CUDA provider installed',
      );
    }
  });

  it('is an engine-cacheable value (byteSize + dispose)', async () => {
    const bytes = tinyVaeDecoderOnnx().bytes;
    const model = await OnnxModel.load(bytes);
    expect(sizeOfValue(model)).toBe(bytes.byteLength);
    disposeValue(model);
    expect(model.isDisposed).toBe(true);
  });

  it('feeds int32 tensors to int64 inputs and brings int64 outputs back as int32', async () => {
    const INT64 = onnx.TensorProto.DataType.INT64;
    const bytes = encodeModel({
      name: 'ids',
      input: [valueInfo('ids', ['B', 'L'], INT64)],
      output: [valueInfo('doubled', ['B', 'L'], INT64)],
      node: [{ opType: 'Add', input: ['ids', 'ids'], output: ['doubled'] }],
    });
    const model = await OnnxModel.load(bytes);
    const ids = tf.tensor2d(
      [
        [1, 2, 3],
        [0, -5, 1000000],
      ],
      undefined,
      'int32',
    );
    try {
      expect(model.inputs[0].type).toBe('int64');
      const { doubled } = await model.run({ ids });
      expect(doubled.dtype).toBe('int32');
      expect(Array.from(doubled.dataSync())).toEqual([2, 4, 6, 0, -10, 2000000]);
      doubled.dispose();
    } finally {
      model.dispose();
      ids.dispose();
    }
  });
});

describe('tensor conversion', () => {
  it('converts tf ⇄ ort for every supported element type', () => {
    const f = tf.tensor2d([
      [1.5, -2],
      [65504, 1e-8],
    ]);
    const i = tf.tensor1d([7, -8, 255], 'int32');
    const b = tf.tensor1d([1, 0, 1], 'bool');
    const roundTrip = (t: tf.Tensor, type?: Parameters<typeof toOrtTensor>[1]) => {
      const o = toOrtTensor(t, type);
      const back = fromOrtTensor(o);
      const values = Array.from(back.dataSync());
      const out = { type: o.type, dims: [...o.dims], dtype: back.dtype, values };
      back.dispose();
      return out;
    };
    try {
      expect(roundTrip(f)).toEqual({
        type: 'float32',
        dims: [2, 2],
        dtype: 'float32',
        values: Array.from(f.dataSync()),
      });
      const half = roundTrip(f, 'float16');
      expect(half.type).toBe('float16');
      expect(half.values.slice(0, 3)).toEqual([1.5, -2, 65504]);
      expect(half.values[3]).toBe(0); // 1e-8 is below float16's smallest subnormal / 2
      expect(roundTrip(f, 'float64').values[0]).toBe(1.5);
      expect(roundTrip(i, 'int64')).toEqual({
        type: 'int64',
        dims: [3],
        dtype: 'int32',
        values: [7, -8, 255],
      });
      expect(roundTrip(i, 'uint8').values).toEqual([7, 248, 255]);
      expect(roundTrip(b)).toEqual({ type: 'bool', dims: [3], dtype: 'bool', values: [1, 0, 1] });
      expect(() => toOrtTensor(b, 'float32', 'input "x"')).toThrow(
        'input "x": cannot feed a bool tensor as ONNX float32',
      );
    } finally {
      tf.dispose([f, i, b]);
    }
  });

  it('refuses int64 outputs that do not fit int32', () => {
    const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
    const big = new ort.Tensor('int64', BigInt64Array.of(1n << 40n), [1]);
    expect(() => fromOrtTensor(big, 'output "n"')).toThrow(
      'output "n": int64 value 1099511627776 does not fit in int32',
    );
  });
});

describe('VAE decoder contract', () => {
  it('serves a conforming .onnx decoder with the tfjs VAE decode shape', async () => {
    const dec = tinyVaeDecoderOnnx({ latentChannels: 8, factor: 4, seed: 3 });
    const vae = await OnnxVaeDecoder.load(dec.bytes, { label: 'tiny-vae.onnx' });
    const latent = tf.randomNormal([1, 2, 3, 8], 0, 1, 'float32', 2) as tf.Tensor4D;
    try {
      expect(vae.latentChannels).toBe(8);
      const image = await vae.decode(latent);
      expect(image.shape).toEqual([1, 8, 12, 3]);
      const v = image.dataSync();
      expect(Math.min(...v)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...v)).toBeLessThanOrEqual(1);
      const expected = dec.reference(latent);
      expect(maxAbsDiff(v, expected.dataSync())).toBeLessThan(1e-5);
      tf.dispose([image, expected]);
    } finally {
      vae.dispose();
      latent.dispose();
    }
  });

  it('rejects models that do not meet the contract, naming what is wrong', async () => {
    await expect(
      OnnxVaeDecoder.load(tinyVaeDecoderOnnx({ outputName: 'rgb' }).bytes, { label: 'bad.onnx' }),
    ).rejects.toThrow(
      'ONNX model "bad.onnx": does not fit the vae-decoder contract: it has no output named "image"',
    );
    await expect(
      OnnxVaeDecoder.load(tinyVaeDecoderOnnx({ inputName: 'z' }).bytes, { label: 'bad.onnx' }),
    ).rejects.toThrow('it has no input named "latent"');
    const rank3 = encodeModel({
      name: 'flat',
      input: [valueInfo('latent', ['B', 'L', 4])],
      output: [valueInfo('image', ['B', 'L', 4])],
      node: [{ opType: 'Identity', input: ['latent'], output: ['image'] }],
    });
    const model = await OnnxModel.load(rank3, { label: 'flat.onnx' });
    try {
      expect(() => assertContract(model, VAE_DECODER_CONTRACT)).toThrow(
        'ONNX model "flat.onnx": does not fit the vae-decoder contract: input "latent" has shape [B,L,4], not [B,h,w,C]',
      );
    } finally {
      model.dispose();
    }
  });
});
