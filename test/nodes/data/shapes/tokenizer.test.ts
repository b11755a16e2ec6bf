import fs from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { buildTokenizerConfig, buildTokenizerJson } from '../../../../nodes/data/shapes/tokenizer';
import { TextTokenizer } from '../../../../nodes/text/tokenizer';
import { enumeratedTexts, sampledTexts } from '../../../../nodes/data/shapes/vocabulary';

const modelsDir = path.join(__dirname, '../../../../models');

describe('shapes tokenizer', () => {
  const json = buildTokenizerJson();
  const vocab = json.model.vocab;
  const tok = new Tokenizer(json, buildTokenizerConfig());

  it("follows T5's conventions for the special tokens", () => {
    expect(vocab['<pad>']).toBe(0);
    expect(vocab['</s>']).toBe(1);
    expect(vocab['<unk>']).toBe(2);
    const ids = Object.values(vocab);
    expect(vocab['<extra_id_0>']).toBe(Math.max(...ids));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids.map((_, i) => i));
  });

  it('is the committed models/tokenizer.json (rebuild with nodes/data/shapes/build-tokenizer.ts)', () => {
    const committed = JSON.parse(fs.readFileSync(path.join(modelsDir, 'tokenizer.json'), 'utf8'));
    expect(committed).toEqual(json);
  });

  it('tokenises every text the generator writes without <unk>, and ends it with </s>', () => {
    const texts = new Set([...enumeratedTexts(), ...sampledTexts(7, 300)]);
    for (const t of texts) {
      const enc = tok.encode(t);
      expect(enc.ids).not.toContain(2);
      expect(enc.ids[enc.ids.length - 1]).toBe(1);
    }
  });

  it('lower-cases, splits punctuation and decodes back', () => {
    const enc = tok.encode('Q: What color is the circle? A:');
    expect(enc.tokens).toEqual(['q', ':', 'what', 'color', 'is', 'the', 'circle', '?', 'a', ':', '</s>']);
    expect(tok.decode(enc.ids, { skip_special_tokens: true })).toBe('q : what color is the circle? a :');
    const caption = 'a small red circle, two large blue squares and a white triangle';
    expect(tok.decode(tok.encode(caption).ids, { skip_special_tokens: true })).toBe(caption);
    expect(tok.encode('a pink circle').ids).toContain(2);
  });

  it("loads in the project's own TextTokenizer with the same ids and no <unk> for generated text", () => {
    const own = TextTokenizer.fromFile(path.join(modelsDir, 'tokenizer.json'));
    expect([own.padTokenId, own.eosId, own.unkId, own.maskId]).toEqual([0, 1, 2, vocab['<extra_id_0>']]);
    expect(own.vocabSize).toBe(Object.keys(vocab).length);
    for (const t of new Set([...enumeratedTexts(), ...sampledTexts(9, 100)])) {
      const ids = own.encode(t);
      expect(ids).not.toContain(own.unkId);
      expect(ids).toEqual(tok.encode(t).ids);
    }
    const caption = 'a small red circle, two large blue squares and a white triangle';
    expect(own.decode(own.encode(caption), { skipSpecial: true })).toBe(caption);
  });
});
