import { PNG } from 'pngjs';
import type { ApiPrompt, EngineEvent } from '../../../server/engine';
import { initRuntime } from '../../../server/runtime';
import { tf } from '../../../server/runtime/tf';
import { tinyModels, type TinyModels } from '../../helpers/tiny-ddit';
import { captured, eventsOf, tinyEngine, useTinyModels } from '../../helpers/tiny-nodes';

let m: TinyModels;

beforeAll(async () => {
  await initRuntime({ backend: 'wasm', threads: 1 });
  // two blocks and a perturbed image head, so velocities and logits are not trivially zero
  m = tinyModels(3, { layers: 2 });
  for (const [name, p] of m.model.namedParameters()) {
    if (name.startsWith('image_') || name.includes('norm1'))
      p.set(tf.randomNormal(p.shape, 0, 0.2, 'float32', 1));
  }
  useTinyModels(m);
});
afterAll(() => m.dispose());

function textToImage(over: Record<string, unknown> = {}): ApiPrompt {
  return {
    '1': { class_type: 'TestTinyModels', inputs: {} },
    '2': { class_type: 'TestEncode', inputs: { text: 'a red circle', length: 8 } },
    '3': { class_type: 'TestEncode', inputs: { text: '', length: 8 } },
    '4': {
      class_type: 'CFGGuider',
      inputs: { model: ['1', 0], positive: ['2', 0], negative: ['3', 0], cfg: 3 },
    },
    '5': { class_type: 'FlowMatchScheduler', inputs: { steps: 4, shift: 3, denoise: 1 } },
    '6': { class_type: 'TestLatent', inputs: { batch: 2, color: '' } },
    '7': {
      class_type: 'FlowMatchSampler',
      inputs: {
        guider: ['4', 0],
        sigmas: ['5', 0],
        latent: ['6', 0],
        seed: 7,
        vae: ['1', 1],
        preview: 'latent2rgb',
        ...over,
      },
    },
    '8': { class_type: 'TestCapture', inputs: { value: ['7', 0], key: 'latent' } },
  };
}

async function run(prompt: ApiPrompt): Promise<{ events: EngineEvent[]; status: string; message?: string }> {
  const { engine } = tinyEngine();
  const events: EngineEvent[] = [];
  const res = await engine.execute(prompt, { onEvent: (e) => events.push(e) });
  return { events, status: res.status, message: res.error?.message };
}

function latentValues(): number[] {
  return Array.from((captured.get('latent') as { samples: tf.Tensor }).samples.dataSync());
}

describe('FlowMatchSampler in a workflow', () => {
  it('samples a batch with a decodable preview at every step, reproducibly', async () => {
    const a = await run(textToImage());
    expect(a.status).toBe('success');
    const progress = a.events.filter(
      (e) => e.type === 'progress' && (e.data as { node: string }).node === '7',
    );
    expect(progress.map((e) => (e.data as { value: number }).value)).toEqual([1, 2, 3, 4]);
    for (const e of progress) {
      const preview = (e as { preview?: { format: string; data: Uint8Array } }).preview!;
      expect(preview.format).toBe('png');
      const png = PNG.sync.read(Buffer.from(preview.data));
      // the batch of two side by side, one pixel apart
      expect([png.width, png.height]).toEqual([9, 4]);
    }
    const out = captured.get('latent') as { samples: tf.Tensor };
    expect(out.samples.shape).toEqual([2, 4, 4, 4]);
    const first = latentValues();
    expect(first.every(Number.isFinite)).toBe(true);
    // the two batch items got different noise
    expect(first.slice(0, 64)).not.toEqual(first.slice(64));
    await run(textToImage());
    expect(latentValues()).toEqual(first);
    await run(textToImage({ seed: 8 }));
    expect(latentValues()).not.toEqual(first);
  });

  it('decodes the preview with the VAE when asked', async () => {
    const r = await run(textToImage({ preview: 'vae' }));
    expect(r.status).toBe('success');
    const p = r.events.find((e) => e.type === 'progress') as { preview: { data: Uint8Array } };
    const png = PNG.sync.read(Buffer.from(p.preview.data));
    expect([png.width, png.height]).toEqual([2 * m.imageSize + 1, m.imageSize]);
  });

  it('names the node and input when guidance lacks a negative prompt', async () => {
    const p = textToImage();
    delete p['4'].inputs.negative;
    const r = await run(p);
    expect(r.status).toBe('error');
    expect(r.message).toMatch(/CFGGuider: cfg 3 ≠ 1 needs the 'negative' conditioning/);
  });
});

function textPrompt(node: Record<string, unknown>, key = 'text'): ApiPrompt {
  return {
    '1': { class_type: 'TestTinyModels', inputs: {} },
    '2': { class_type: 'TestLatent', inputs: { batch: 1, color: '1,0,0' } },
    '3': {
      class_type: node.class_type as string,
      inputs: {
        model: ['1', 0],
        text_encoder: ['1', 2],
        tokenizer: ['1', 3],
        ...(node.class_type === 'MaskedTextSampler'
          ? { latent: ['2', 0] }
          : { vae: ['1', 1], image: ['2', 1] }),
        ...(node.inputs as Record<string, unknown>),
      },
    },
    '4': { class_type: 'TestCapture', inputs: { value: ['3', 0], key } },
    '5': { class_type: 'TestCapture', inputs: { value: ['3', 1], key: `${key}:1` } },
  };
}

describe('masked text sampling in a workflow', () => {
  it('captions with every position masked and streams the token states', async () => {
    const r = await run(
      textPrompt({
        class_type: 'MaskedTextSampler',
        inputs: { mode: 'caption', template: '', length: 10, steps: 5, seed: 1 },
      }),
    );
    expect(r.status).toBe('success');
    const states = eventsOf(r.events, 'ddit.text_state');
    expect(states.map((s) => s.step)).toEqual([0, 1, 2, 3, 4, 5]);
    let masks = Infinity;
    for (const s of states) {
      const n = (s.masked as boolean[]).filter(Boolean).length;
      expect(n).toBeLessThanOrEqual(masks);
      masks = n;
      expect(s.tokens).toHaveLength(10);
      expect(s.steps).toBe(5);
    }
    expect((states[0].masked as boolean[]).every(Boolean)).toBe(true);
    const text = captured.get('text') as string;
    expect(typeof text).toBe('string');
    expect(text).not.toContain('</s>');
    expect(text).not.toContain('<extra_id_0>');
    expect(captured.get('text:1')).toBe(text); // caption: the whole text is generated
  });

  it('keeps the fixed words of a free-form template', async () => {
    const r = await run(
      textPrompt({
        class_type: 'MaskedTextSampler',
        inputs: {
          mode: 'infill',
          template: 'a [MASK] circle on the [MASK] [EOS]',
          length: 9,
          steps: 4,
          seed: 2,
        },
      }),
    );
    expect(r.status).toBe('success');
    const tok = m.tokenizer;
    const fixedIds = ['a', 'circle', 'on', 'the'].map((w) => tok.encode(w, { eos: false })[0]);
    for (const s of eventsOf(r.events, 'ddit.text_state')) {
      const t = s.tokens as number[];
      expect([t[0], t[2], t[3], t[4]]).toEqual(fixedIds);
      expect(t.slice(6)).toEqual([tok.eosId, tok.eosId, tok.eosId]);
      expect(s.fixed).toEqual([true, false, true, true, true, false, true, true, true]);
    }
    const full = captured.get('text:1') as string;
    expect(full.startsWith('a ')).toBe(true);
    expect(full.split(' ').slice(2, 4)).toEqual(['circle', 'on']);
  });

  it('answers a question by in-filling after the prompt without its EOS', async () => {
    const r = await run(
      textPrompt({
        class_type: 'AnswerQuestion',
        inputs: {
          question: 'what color is the circle?',
          prompt_format: 'q: {question} a:',
          vizwiz: false,
          length: 14,
          steps: 3,
          seed: 4,
        },
      }),
    );
    expect(r.status).toBe('success');
    const prompt = m.tokenizer.encode('q: what color is the circle? a:', { eos: false });
    for (const s of eventsOf(r.events, 'ddit.text_state')) {
      expect((s.tokens as number[]).slice(0, prompt.length)).toEqual(prompt);
      expect((s.fixed as boolean[]).filter(Boolean)).toHaveLength(prompt.length);
    }
    const tokens = captured.get('text:1') as { tokens: number[][] };
    const answerIds = tokens.tokens[0].slice(prompt.length);
    const cut = answerIds.indexOf(m.tokenizer.eosId);
    expect(captured.get('text')).toBe(
      m.tokenizer.decode(cut < 0 ? answerIds : answerIds.slice(0, cut)).trim(),
    );
  });

  it('captions an image through the VAE posterior', async () => {
    const r = await run(textPrompt({ class_type: 'Caption', inputs: { length: 6, steps: 3, seed: 0 } }));
    expect(r.status).toBe('success');
    expect(eventsOf(r.events, 'ddit.text_state')).toHaveLength(4);
    expect(typeof captured.get('text')).toBe('string');
  });
});
