import { TextTokenizer } from '../../../nodes/text/tokenizer';
import { unigramJson, wordLevelJson, WORDS } from './fixtures';

describe('TextTokenizer, WordLevel (own loader)', () => {
  const tok = TextTokenizer.fromJson(wordLevelJson());

  test('T5 conventions by content: pad 0, EOS 1, unk 2, mask <extra_id_0>; pad id for sequences is EOS', () => {
    expect(tok.kind).toBe('WordLevel');
    expect(tok.padTokenId).toBe(0);
    expect(tok.eosId).toBe(1);
    expect(tok.unkId).toBe(2);
    expect(tok.maskId).toBe(3 + WORDS.length);
    expect(tok.padId).toBe(1);
    expect(tok.vocabSize).toBe(4 + WORDS.length);
  });

  test('encode appends EOS, splits punctuation, lowercases, maps unknown words to <unk>, sees added tokens', () => {
    const id = (w: string): number => tok.tokenToId(w)!;
    expect(tok.encode('A red circle.')).toEqual([id('a'), id('red'), id('circle'), id('.'), 1]);
    expect(tok.encode('a GREEN <extra_id_0>?', { eos: false })).toEqual([id('a'), 2, tok.maskId, id('?')]);
    expect(tok.encode('')).toEqual([1]);
  });

  test('round trip: decode(encode(text)) gives the normalised text back', () => {
    for (const s of ['a red circle left of a blue square.', 'q: what colour? a: red', 'a circle']) {
      expect(tok.decode(tok.encode(s), { skipSpecial: true })).toBe(s);
      expect(tok.decode(tok.encode(s), { stopAtEos: true })).toBe(s);
    }
    expect(tok.decode(tok.encode('a <extra_id_0> circle'), { skipSpecial: true })).toBe(
      'a <extra_id_0> circle',
    );
    expect(tok.decode([tok.tokenToId('red')!, 1, 1])).toBe('red </s> </s>');
  });

  test('padding with EOS and truncation keeping EOS', () => {
    const ids = tok.encodePadded('a red circle', 6);
    expect(ids).toEqual([...tok.encode('a red circle'), 1, 1]);
    expect(tok.encodePadded('a red circle left of a blue square', 4)).toEqual([
      ...tok.encode('a red circle', { eos: false }),
      1,
    ]);
    expect(tok.encodePadded('a red circle', 3, { eos: false })).toEqual(
      tok.encode('a red circle', { eos: false }),
    );
    expect(tok.encodePadded(' ', 3)).toEqual([1, 1, 1]);
    expect(() => tok.encodePadded('a', 0)).toThrow(/positive integer/);
  });

  test('bad documents give clear errors', () => {
    expect(() => TextTokenizer.fromJson('{')).toThrow(/not valid JSON/);
    expect(() => TextTokenizer.fromJson({})).toThrow(/no "model"/);
    const j = wordLevelJson();
    (j.pre_tokenizer as Record<string, unknown>).type = 'ByteLevel';
    expect(() => TextTokenizer.fromJson(j)).toThrow(/ByteLevel/);
    const k = wordLevelJson();
    delete ((k.model as Record<string, unknown>).vocab as Record<string, number>)['</s>'];
    k.added_tokens = (k.added_tokens as Array<{ content: string }>).filter((t) => t.content !== '</s>');
    expect(() => TextTokenizer.fromJson(k)).toThrow(/'<\/s>'/);
  });
});

describe('TextTokenizer, Unigram as T5 (@huggingface/tokenizers)', () => {
  const tok = TextTokenizer.fromJson(JSON.stringify(unigramJson()));

  test('ids, EOS, mask, and round trips', () => {
    expect(tok.kind).toBe('Unigram');
    expect([tok.padTokenId, tok.eosId, tok.unkId, tok.maskId]).toEqual([0, 1, 2, 18]);
    expect(tok.encode('a red circle.')).toEqual([4, 5, 6, 9, 1]);
    expect(tok.decode(tok.encode('a red circle.'), { skipSpecial: true })).toBe('a red circle.');
    expect(tok.decode(tok.encodePadded('a  red circle', 8), { stopAtEos: true })).toBe('a red circle');
    expect(tok.encodePadded('a red circle.', 3)).toEqual([4, 5, 1]);
    expect(tok.encode('a <extra_id_0>', { eos: false })).toContain(18);
    expect(tok.vocabSize).toBe(19);
    expect(tok.tokens([4, 18])).toEqual(['▁a', '<extra_id_0>']);
  });
});
