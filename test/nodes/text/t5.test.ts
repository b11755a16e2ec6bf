import { tf } from '../../../server/runtime';
import { relativePositionBucket, shiftTokens, T5Encoder, type T5Config } from '../../../nodes/text/t5';
import { torchShape } from '../../../server/runtime/nn';
import {
  BACKENDS,
  gradCheck,
  maxAbsDiff,
  randn,
  useBackend,
  variableGradCheck,
} from '../../helpers/gradcheck';

const CFG: T5Config = {
  vocab_size: 11,
  d_model: 8,
  d_kv: 3,
  d_ff: 12,
  num_layers: 2,
  num_heads: 2,
  relative_attention_num_buckets: 8,
  relative_attention_max_distance: 16,
  feed_forward_proj: 'gated-gelu',
};

type State = Map<string, tf.Tensor>;

/** Independent reading of HF's T5 encoder on a PyTorch-layout state (batched ops, tanh GELU via tf.tanh). */
function reference(
  s: State,
  c: Required<Pick<T5Config, 'num_heads' | 'd_kv' | 'num_layers'>>,
  ids: number[][],
  buckets: (rel: number) => number,
  gated: boolean,
): tf.Tensor {
  return tf.tidy(() => {
    const B = ids.length;
    const L = ids[0].length;
    const H = c.num_heads;
    const lin = (name: string, x: tf.Tensor): tf.Tensor => {
      const w = s.get(`${name}.weight`)! as tf.Tensor2D;
      return tf.reshape(tf.matMul(tf.reshape(x, [-1, w.shape[1]]), w, false, true), [
        ...x.shape.slice(0, -1),
        w.shape[0],
      ]);
    };
    const rms = (name: string, x: tf.Tensor): tf.Tensor =>
      tf.mul(s.get(`${name}.weight`)!, tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), 1e-6))));
    const gelu = (x: tf.Tensor): tf.Tensor =>
      tf.mul(
        tf.mul(x, 0.5),
        tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))),
      );
    let h: tf.Tensor = tf.gather(s.get('shared.weight')!, tf.tensor2d(ids, undefined, 'int32'));
    const table = s
      .get('encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight')!
      .arraySync() as number[][];
    const bias = tf.tensor(
      Array.from({ length: H }, (_, hh) =>
        Array.from({ length: L }, (_, i) => Array.from({ length: L }, (_, j) => table[buckets(j - i)][hh])),
      ),
    );
    for (let i = 0; i < c.num_layers; i++) {
      const p = `encoder.block.${i}.layer.`;
      const n = rms(`${p}0.layer_norm`, h);
      const heads = (t: tf.Tensor): tf.Tensor => tf.transpose(tf.reshape(t, [B, L, H, c.d_kv]), [0, 2, 1, 3]);
      const q = heads(lin(`${p}0.SelfAttention.q`, n));
      const k = heads(lin(`${p}0.SelfAttention.k`, n));
      const v = heads(lin(`${p}0.SelfAttention.v`, n));
      const a = tf.matMul(tf.softmax(tf.add(tf.matMul(q, k, false, true), bias)), v);
      h = tf.add(
        h,
        lin(`${p}0.SelfAttention.o`, tf.reshape(tf.transpose(a, [0, 2, 1, 3]), [B, L, H * c.d_kv])),
      );
      const m = rms(`${p}1.layer_norm`, h);
      const ff = gated
        ? tf.mul(gelu(lin(`${p}1.DenseReluDense.wi_0`, m)), lin(`${p}1.DenseReluDense.wi_1`, m))
        : tf.relu(lin(`${p}1.DenseReluDense.wi`, m));
      h = tf.add(h, lin(`${p}1.DenseReluDense.wo`, ff));
    }
    return rms('encoder.final_layer_norm', h);
  });
}

function randomState(m: T5Encoder, seed: number): State {
  const st = new Map<string, tf.Tensor>();
  m.namedParameters().forEach(([n, p], i) => {
    const t = randn(torchShape(p.shape, p.layout), seed * 100 + i, 0.5);
    st.set(n, n.endsWith('layer_norm.weight') ? tf.add(t, 1) : t);
  });
  return st;
}

describe('relative position buckets (HF T5, bidirectional)', () => {
  test('exact near zero, log-spaced far away, keys after the query in the upper half', () => {
    expect(relativePositionBucket(0)).toBe(0);
    expect(relativePositionBucket(-1)).toBe(1);
    expect(relativePositionBucket(1)).toBe(17);
    expect(relativePositionBucket(-7)).toBe(7);
    expect(relativePositionBucket(-8)).toBe(8);
    expect(relativePositionBucket(-20)).toBe(10); // 8 + ⌊ln(2.5)/ln(16)·8⌋
    expect(relativePositionBucket(20)).toBe(26);
    expect(relativePositionBucket(-128)).toBe(15);
    expect(relativePositionBucket(5000)).toBe(31);
  });
});

describe.each(BACKENDS)('T5 encoder on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  test.each([
    ['gated-gelu', true],
    ['relu', false],
  ])(
    'HF parameter names; forward (%s) equals an independent reading on a PyTorch-layout state',
    (proj, gated) => {
      const cfg = { ...CFG, feed_forward_proj: proj as string };
      const enc = new T5Encoder(cfg);
      const names = enc.namedParameters().map(([n]) => n);
      expect(names).toContain('shared.weight');
      expect(names).toContain('encoder.block.0.layer.0.SelfAttention.q.weight');
      expect(names).toContain('encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight');
      expect(names).not.toContain('encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight');
      expect(names).toContain(`encoder.block.1.layer.1.DenseReluDense.${gated ? 'wi_1' : 'wi'}.weight`);
      expect(names).toContain('encoder.final_layer_norm.weight');
      const st = randomState(enc, 1);
      // a T5EncoderModel file may carry the embedding under its tied name
      st.set('encoder.embed_tokens.weight', st.get('shared.weight')!);
      st.delete('shared.weight');
      enc.loadState(st);
      st.set('shared.weight', st.get('encoder.embed_tokens.weight')!);
      const ids = [
        [3, 1, 4, 1, 5],
        [9, 2, 6, 1, 1],
      ];
      const out = enc.encode(ids);
      expect(out.shape).toEqual([2, 5, 8]);
      const ref = reference(
        st,
        { num_heads: 2, d_kv: 3, num_layers: 2 },
        ids,
        (r) => relativePositionBucket(r, 8, 16),
        gated as boolean,
      );
      expect(maxAbsDiff(out, ref)).toBeLessThan(2e-4);
      enc.dispose();
    },
  );

  test('no attention mask: every position sees every other (changing the last token changes the first output)', () => {
    const enc = new T5Encoder(CFG).initialize(2);
    const a = enc.encode([[3, 4, 5, 1]]);
    const b = enc.encode([[3, 4, 5, 7]]);
    expect(maxAbsDiff(tf.slice(a, [0, 0, 0], [1, 1, 8]), tf.slice(b, [0, 0, 0], [1, 1, 8]))).toBeGreaterThan(
      1e-4,
    );
    expect(() => enc.encode([[3, 11]])).toThrow(/outside the vocabulary/);
    enc.dispose();
  });

  test('learned absolute positions (absolute_position_embeddings): identical tokens come out distinct', () => {
    const plain = new T5Encoder(CFG).initialize(3);
    const withPos = new T5Encoder({ ...CFG, absolute_position_embeddings: 6 }).initialize(3);
    expect(withPos.namedParameters().map(([n]) => n)).toContain('embed_positions.weight');
    expect(plain.namedParameters().map(([n]) => n)).not.toContain('embed_positions.weight');
    const same = [[7, 7, 7, 7]];
    const out = withPos.encode(same);
    const rows = tf.unstack(out.squeeze([0]));
    expect(maxAbsDiff(rows[1], rows[2])).toBeGreaterThan(1e-2);
    expect(() => withPos.encode([[1, 2, 3, 4, 5, 6, 7]])).toThrow(
      "7 tokens exceed the encoder's 6 learned positions",
    );
    expect(() => new T5Encoder({ ...CFG, absolute_position_embeddings: -1 })).toThrow(
      "'absolute_position_embeddings' must be a non-negative integer",
    );
    tf.dispose([out, ...rows]);
    plain.dispose();
    withPos.dispose();
  });

  test('token shift (not part of T5): starts as an identity, then gives each word its neighbours', () => {
    const plain = new T5Encoder(CFG).initialize(4);
    const shifted = new T5Encoder({ ...CFG, token_shift: true }).initialize(4);
    const names = shifted.namedParameters().map(([n]) => n);
    expect(names).toContain('encoder.block.1.layer.0.TokenShift.prev.weight');
    expect(names).toContain('encoder.block.1.layer.0.TokenShift.next.weight');
    // a trained encoder gains the branch without changing what it computes
    const report = shifted.loadState(plain.state(), { strict: false });
    expect(report.missing.every((n) => n.includes('TokenShift'))).toBe(true);
    const ids = [
      [3, 1, 4, 1, 5],
      [9, 2, 6, 5, 3],
    ];
    expect(maxAbsDiff(shifted.encode(ids), plain.encode(ids))).toBe(0);
    expect(shifted.encode([[6]]).shape).toEqual([1, 1, 8]);
    // the shift itself: predecessor (by 1) or successor (by −1), zeros at the edge
    const x = tf.tensor3d([[[1], [2], [3]]]);
    expect(shiftTokens(x, 1).arraySync()).toEqual([[[0], [1], [2]]]);
    expect(shiftTokens(x, -1).arraySync()).toEqual([[[2], [3], [0]]]);
    expect(shiftTokens(tf.tensor3d([[[5]]]), 1).arraySync()).toEqual([[[0]]]);
    tf.dispose(x);
    plain.dispose();
    shifted.dispose();
  });

  test('deterministic under a seed, and no tensor leaks over repeated encodes', () => {
    const a = new T5Encoder(CFG).initialize(5);
    const b = new T5Encoder(CFG).initialize(5);
    const ids = tf.tensor2d([[1, 2, 3]], undefined, 'int32');
    expect(maxAbsDiff(a.encode(ids), b.encode(ids))).toBe(0);
    a.encode(ids).dispose();
    const n0 = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) a.encode(ids).dispose();
    expect(tf.memory().numTensors).toBe(n0);
    a.dispose();
    b.dispose();
  });
});

describe('T5 gradients (finite differences, cpu)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  test('parameters of every kind, including the position-bias table and the embedding rows', () => {
    const enc = new T5Encoder({ ...CFG, num_layers: 1 });
    const st = randomState(enc, 3);
    enc.loadState(st);
    const ids = tf.tensor2d([[3, 1, 4, 9]], undefined, 'int32');
    const f = (): tf.Tensor => enc.forward(ids);
    const params = new Map(enc.namedParameters());
    for (const name of [
      'shared.weight',
      'encoder.block.0.layer.0.SelfAttention.q.weight',
      'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight',
      'encoder.block.0.layer.0.layer_norm.weight',
      'encoder.block.0.layer.1.DenseReluDense.wi_0.weight',
      'encoder.final_layer_norm.weight',
    ]) {
      const err = variableGradCheck(f, params.get(name)!.value, { samples: 4 });
      expect([name, err < 3e-2]).toEqual([name, true]);
    }
    // and through the embedded inputs
    const x = tf.gather(params.get('shared.weight')!.value, ids);
    const blk = enc.blocks[0];
    const bias = blk.attn.positionBias(4);
    for (const e of gradCheck((t) => blk.forward(t as tf.Tensor3D, bias), [x], { samples: 6 }).relErrors)
      expect(e).toBeLessThan(3e-2);
    enc.dispose();
  });
});
