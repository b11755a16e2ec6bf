import { OnnxModel, resolveSpinning } from '../../../server/runtime/onnx';
import { OnnxGraph } from '../../../server/runtime/onnx-graph';
import { tf } from '../../../server/runtime/tf';

function relu(): Uint8Array {
  const g = new OnnxGraph('relu');
  const x = g.input('x', 'float32', ['n']);
  g.output('y', 'float32', ['n'], g.op('Relu', [x]));
  return g.toBytes();
}

describe('onnxruntime thread spinning setting', () => {
  const saved = process.env.DDIT_ONNX_SPINNING;
  afterEach(() => {
    if (saved === undefined) delete process.env.DDIT_ONNX_SPINNING;
    else process.env.DDIT_ONNX_SPINNING = saved;
  });

  it.each([undefined, '0', '1', 'run'])('sessions run with DDIT_ONNX_SPINNING=%s', async (v) => {
    if (v === undefined) delete process.env.DDIT_ONNX_SPINNING;
    else process.env.DDIT_ONNX_SPINNING = v;
    const m = await OnnxModel.load(relu(), { threads: 2 });
    const { y } = await m.run({ x: tf.tensor1d([-1, 2]) });
    expect(Array.from(y.dataSync())).toEqual([0, 2]);
    m.dispose();
  });

  it('spins only within a run unless told otherwise', () => {
    delete process.env.DDIT_ONNX_SPINNING;
    expect(resolveSpinning()).toBe('run');
    expect(resolveSpinning(false)).toBe(false);
    process.env.DDIT_ONNX_SPINNING = '0';
    expect(resolveSpinning()).toBe(false);
    process.env.DDIT_ONNX_SPINNING = '1';
    expect(resolveSpinning()).toBe(true);
    expect(resolveSpinning('run')).toBe('run');
  });

  it('the option overrides the variable, and a bad value is named', async () => {
    process.env.DDIT_ONNX_SPINNING = 'yes';
    await expect(OnnxModel.load(relu())).rejects.toThrow('DDIT_ONNX_SPINNING="yes" must be 0, 1 or run');
    for (const spinning of [true, false, 'run'] as const) {
      const m = await OnnxModel.load(relu(), { spinning });
      const { y } = await m.run({ x: tf.tensor1d([3, -4]) });
      expect(Array.from(y.dataSync())).toEqual([3, 0]);
      m.dispose();
    }
  });
});
