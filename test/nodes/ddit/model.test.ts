import { tf } from '../../../server/runtime';
import { DDiT, type DDiTConfig } from '../../../nodes/ddit/model';
import { torchShape } from '../../../server/runtime/nn';
import {
  BACKENDS,
  gradCheck,
  maxAbsDiff,
  randn,
  useBackend,
  variableGradCheck,
} from '../../helpers/gradcheck';
import { referenceForward } from './reference';

const CFG: DDiTConfig = {
  sample_size: 8,
  patch_size: 2,
  in_channels: 3,
  num_layers: 2,
  num_attention_heads: 2,
  attention_head_dim: 4,
  joint_attention_dim: 5,
  pos_embed_max_size: 6,
  vocab_size: 7,
  null_image_tokens: 2,
};

/** A state map in the reference layout (PyTorch orientation), random everywhere (no zero-init). */
function randomTorchState(model: DDiT, seed: number, std = 0.3): Map<string, tf.Tensor> {
  const m = new Map<string, tf.Tensor>();
  model
    .namedParameters()
    .forEach(([name, p], i) => m.set(name, randn(torchShape(p.shape, p.layout), seed * 1000 + i, std)));
  return m;
}

function randomModel(seed: number, cfg: DDiTConfig = CFG): DDiT {
  const m = new DDiT(cfg);
  const st = randomTorchState(m, seed);
  m.loadState(st);
  st.forEach((t) => t.dispose());
  return m;
}

describe.each(BACKENDS)('D-DiT on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  test('forward equals an independent reading of the spec on a reference-layout state (PyTorch orientation)', () => {
    const model = new DDiT(CFG);
    const st = randomTorchState(model, 1);
    model.loadState(st);
    const z = randn([2, 4, 6, 3], 2) as tf.Tensor4D;
    const enc = randn([2, 3, 5], 3) as tf.Tensor3D;
    const tau = [0, 731.5];
    const out = model.forward(z, tau, enc);
    const ref = referenceForward(st, { p: 2, C: 3, D: 8, H: 2, G: 6, S: 8, layers: 2 }, z, tau, enc);
    expect(out.velocity!.shape).toEqual([2, 4, 6, 3]);
    expect(out.logits!.shape).toEqual([2, 3, 7]);
    expect(maxAbsDiff(out.velocity!, ref.velocity)).toBeLessThan(2e-4);
    expect(maxAbsDiff(out.logits!, ref.logits)).toBeLessThan(2e-4);
    model.dispose();
  });

  test('patch layouts (inv. 15): unpatchify inverts the (r·p+q)·C+ch cut; the conv reads (ch, r, q)', () => {
    const model = new DDiT(CFG);
    const z = randn([2, 4, 6, 3], 30) as tf.Tensor4D;
    const cut = model.patchify(z);
    expect(cut.shape).toEqual([2 * 2 * 3, 12]);
    const za = z.arraySync();
    const ca = cut.arraySync();
    // patch (i=1, j=2) of sample 1, element (r=1, q=0, ch=2)
    expect(ca[1 * 6 + 1 * 3 + 2][(1 * 2 + 0) * 3 + 2]).toBe(za[1][1 * 2 + 1][2 * 2 + 0][2]);
    expect(maxAbsDiff(model.unpatchify(cut, 2, 2, 3), z)).toBe(0);
    // the embedding equals a stride-p conv with the PyTorch (D, C, p, p) weight
    const wT = randn([8, 3, 2, 2], 31);
    const st = new Map(model.namedParameters().map(([n, p]) => [n, tf.zeros(torchShape(p.shape, p.layout))]));
    st.set('pos_embed.proj.weight', wT);
    model.loadState(st);
    const conv = tf.conv2d(z, tf.transpose(wT, [2, 3, 1, 0]) as tf.Tensor4D, 2, 'valid');
    const pos = tf.slice(tf.reshape(model.posTable.value, [6, 6, 8]), [2, 1, 0], [2, 3, 8]);
    expect(maxAbsDiff(model.embedImage(z), tf.reshape(tf.add(conv, pos), [2, 6, 8]))).toBeLessThan(1e-5);
    model.dispose();
  });

  test('AdaLN-Zero (inv. 17): at initialisation every block is the identity and v̂ ≡ 0', () => {
    const model = new DDiT(CFG).initialize(3);
    const z = randn([1, 4, 4, 3], 4) as tf.Tensor4D;
    const enc = randn([1, 3, 5], 5) as tf.Tensor3D;
    const x = model.embedImage(z);
    const c = model.contextEmbedder.forward(enc) as tf.Tensor3D;
    const sy = tf.sigmoid(model.embedTime(tf.tensor1d([500]))) as tf.Tensor2D;
    for (const blk of model.blocks) {
      const [x2, c2] = blk.forward(x, c, sy);
      expect(maxAbsDiff(x2, x)).toBe(0);
      expect(maxAbsDiff(c2, c)).toBe(0);
    }
    const { velocity } = model.forward(z, 500, enc);
    expect(tf.max(tf.abs(velocity!)).dataSync()[0]).toBe(0);
    model.dispose();
  });

  test('text time-agnostic (inv. 14): τ = 0 twice gives identical logits; τ enters only through y', () => {
    const model = randomModel(6);
    const z = randn([2, 4, 4, 3], 7) as tf.Tensor4D;
    const enc = randn([2, 3, 5], 8) as tf.Tensor3D;
    const a = model.forward(z, 0, enc, { image: false }).logits!;
    const b = model.forward(z, tf.tensor1d([0, 0]), enc, { image: false }).logits!;
    expect(maxAbsDiff(a, b)).toBe(0);
    expect(model.forward(z, [0, 0], enc).logits!.arraySync()).toEqual(a.arraySync());
    model.dispose();
  });

  test('attention is permutation-equivariant over text tokens (inv. 18)', () => {
    const model = randomModel(9);
    const z = randn([1, 4, 4, 3], 10) as tf.Tensor4D;
    const enc = randn([1, 4, 5], 11) as tf.Tensor3D;
    const perm = [2, 0, 3, 1];
    const encP = tf.gather(enc, perm, 1) as tf.Tensor3D;
    const o = model.forward(z, 300, enc);
    const oP = model.forward(z, 300, encP);
    expect(maxAbsDiff(oP.logits!, tf.gather(o.logits!, perm, 1))).toBeLessThan(1e-5);
    expect(maxAbsDiff(oP.velocity!, o.velocity!)).toBeLessThan(1e-5);
    model.dispose();
  });

  test('skipping a head gives the same other head; text-only call uses the null image tokens', () => {
    const model = randomModel(12);
    const z = randn([2, 4, 4, 3], 13) as tf.Tensor4D;
    const enc = randn([2, 3, 5], 14) as tf.Tensor3D;
    const full = model.forward(z, [10, 900], enc);
    const onlyV = model.forward(z, [10, 900], enc, { text: false });
    const onlyT = model.forward(z, [10, 900], enc, { image: false });
    expect(onlyV.logits).toBeUndefined();
    expect(onlyT.velocity).toBeUndefined();
    expect(maxAbsDiff(onlyV.velocity!, full.velocity!)).toBe(0);
    expect(maxAbsDiff(onlyT.logits!, full.logits!)).toBe(0);
    const textOnly = model.forward(null, 0, enc, {});
    expect(textOnly.velocity).toBeUndefined();
    expect(textOnly.logits!.shape).toEqual([2, 3, 7]);
    const noNull = new DDiT({ ...CFG, null_image_tokens: 0 }).initialize(1);
    expect(() => noNull.forward(null, 0, enc, {})).toThrow(/null_image_tokens/);
    [model, noNull].forEach((m) => m.dispose());
  });

  test('input checks name the problem', () => {
    const model = new DDiT(CFG).initialize(0);
    const enc = randn([1, 3, 5], 1) as tf.Tensor3D;
    expect(() => model.forward(randn([1, 3, 4, 3], 2) as tf.Tensor4D, 0, enc)).toThrow(
      /divisible by the patch size/,
    );
    expect(() => model.forward(randn([1, 4, 4, 2], 2) as tf.Tensor4D, 0, enc)).toThrow(/2 channels/);
    expect(() => model.forward(randn([1, 14, 4, 3], 2) as tf.Tensor4D, 0, enc)).toThrow(
      /exceeds the position table/,
    );
    expect(() =>
      model.forward(randn([1, 4, 4, 3], 2) as tf.Tensor4D, 0, randn([1, 3, 4], 1) as tf.Tensor3D),
    ).toThrow(/\[B, M, 5\]/);
    expect(() => new DDiT({ ...CFG, caption_projection_dim: 6 })).toThrow(/caption_projection_dim/);
    model.dispose();
  });

  test('same seed gives the same model and outputs; another seed does not', () => {
    const a = new DDiT(CFG).initialize(42);
    const b = new DDiT(CFG).initialize(42);
    const c = new DDiT(CFG).initialize(43);
    const enc = randn([1, 3, 5], 1) as tf.Tensor3D;
    const z = randn([1, 4, 4, 3], 2) as tf.Tensor4D;
    expect(maxAbsDiff(a.forward(z, 5, enc).logits!, b.forward(z, 5, enc).logits!)).toBe(0);
    expect(maxAbsDiff(a.forward(z, 5, enc).logits!, c.forward(z, 5, enc).logits!)).toBeGreaterThan(0);
    [a, b, c].forEach((m) => m.dispose());
  });

  test('no tensor leaks over repeated forwards, and gradients through the whole model', () => {
    const model = randomModel(15);
    const z = randn([2, 4, 4, 3], 16) as tf.Tensor4D;
    const enc = randn([2, 3, 5], 17) as tf.Tensor3D;
    const run = (): void => {
      const o = model.forward(z, [1, 2], enc);
      o.velocity!.dispose();
      o.logits!.dispose();
    };
    run();
    const n0 = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) run();
    expect(tf.memory().numTensors).toBe(n0);
    const loss = (): tf.Scalar =>
      tf.tidy(() => {
        const o = model.forward(z, [100, 700], enc);
        return tf.add(tf.mean(tf.square(o.velocity!)), tf.mean(tf.square(o.logits!))) as tf.Scalar;
      });
    const vars = model.trainableVariables();
    const { value, grads } = tf.variableGrads(loss, vars);
    // every parameter but the unused null image tokens gets a gradient
    expect(Object.keys(grads).length).toBe(vars.length - 1);
    value.dispose();
    tf.dispose(grads);
    for (let i = 0; i < 2; i++) {
      const g = tf.variableGrads(loss, vars);
      g.value.dispose();
      tf.dispose(g.grads);
    }
    expect(tf.memory().numTensors).toBe(n0);
    model.dispose();
  });
});

describe('D-DiT gradients (finite differences, wasm)', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });

  test('d/d(z, enc) and d/d(parameters of every kind) match finite differences', () => {
    const model = randomModel(20, { ...CFG, num_layers: 1 });
    const z = randn([1, 4, 4, 3], 21, 0.5);
    const enc = randn([1, 3, 5], 22, 0.5);
    const textOnly = model.forward(null, 0, enc as tf.Tensor3D, {}).logits!;
    expect(textOnly.shape).toEqual([1, 3, 7]);
    const both = (o: { velocity?: tf.Tensor; logits?: tf.Tensor }): tf.Tensor =>
      tf.concat([tf.reshape(o.velocity!, [-1]), tf.reshape(o.logits!, [-1])]);
    const r = gradCheck((a, b) => both(model.forward(a as tf.Tensor4D, [400], b as tf.Tensor3D)), [z, enc], {
      eps: 1e-2,
    });
    for (const e of r.relErrors) expect(e).toBeLessThan(3e-2);
    const entries = new Map(model.namedParameters());
    const names = [
      'pos_embed.proj.weight',
      'time_text_embed.timestep_embedder.linear_1.weight',
      'transformer_blocks.0.norm1.linear.weight',
      'transformer_blocks.0.attn.add_v_proj.weight',
      'transformer_blocks.0.ff_context.net.0.proj.weight',
      'text_proj_out.bias',
    ];
    expect(
      variableGradCheck(
        () => model.forward(null, 0, enc as tf.Tensor3D, {}).logits!,
        entries.get('null_image_embd')!.value,
      ),
    ).toBeLessThan(3e-2);
    for (const name of names) {
      const err = variableGradCheck(
        () => both(model.forward(z as tf.Tensor4D, [400], enc as tf.Tensor3D)),
        entries.get(name)!.value,
        {
          samples: 6,
        },
      );
      expect([name, err < 3e-2]).toEqual([name, true]);
    }
    model.dispose();
  });
});

describe('D-DiT pooled text (text_pooling: mean, a documented deviation)', () => {
  test('a zero-initialised pooled path leaves a spec model unchanged; trained, it adds MLP(mean E) to y', () => {
    const spec = randomModel(40);
    const pooled = new DDiT({ ...CFG, text_pooling: 'mean' }).initialize(41);
    const names = pooled.namedParameters().map(([n]) => n);
    expect(names).toContain('time_text_embed.text_embedder.linear_1.weight');
    expect(names).toContain('time_text_embed.text_embedder.linear_2.bias');
    // the spec model's weights plus the new path at its initial values
    const st = new Map(spec.state());
    for (const [n, t] of pooled.state()) if (!st.has(n)) st.set(n, t);
    pooled.loadState(st);
    const z = randn([2, 4, 4, 3], 42) as tf.Tensor4D;
    const enc = randn([2, 3, 5], 43) as tf.Tensor3D;
    const a = spec.forward(z, [100, 900], enc);
    const b = pooled.forward(z, [100, 900], enc);
    expect(maxAbsDiff(a.velocity!, b.velocity!)).toBe(0);
    expect(maxAbsDiff(a.logits!, b.logits!)).toBe(0);

    const trained = randomModel(44, { ...CFG, text_pooling: 'mean' });
    const w = new Map(trained.namedParameters().map(([n, p]) => [n, p.value]));
    const lin = (x: tf.Tensor, n: string) =>
      tf.add(tf.matMul(x as tf.Tensor2D, w.get(`${n}.weight`) as tf.Tensor2D), w.get(`${n}.bias`)!);
    const tau = tf.tensor1d([100, 900]);
    const h = lin(tf.mean(enc, 1), 'time_text_embed.text_embedder.linear_1');
    const expected = tf.add(
      trained.timeEmbedder.forward(tau),
      lin(tf.mul(h, tf.sigmoid(h)), 'time_text_embed.text_embedder.linear_2'),
    );
    expect(maxAbsDiff(trained.embedTime(tau, enc), expected)).toBeLessThan(1e-5);
    // the prompt now reaches y, so the text changes the conditioning vector itself
    expect(maxAbsDiff(trained.embedTime(tau, enc), trained.embedTime(tau, tf.neg(enc)))).toBeGreaterThan(
      1e-3,
    );
    expect(() => trained.embedTime(tau)).toThrow(/text_pooling needs the text embeddings/);
    [spec, pooled, trained].forEach((m) => m.dispose());
  });
});
