import { layoutPieces, textStatePieces, textStatePlain } from '../../web/src/text-state';

describe('text sampler states', () => {
  test('SentencePiece tokens: fixed question, generated answer, masks as blanks, pads dropped', () => {
    const state = {
      tokens: ['▁what', '▁colour', '?', '▁it', '▁is', '<extra_id_0>', '<extra_id_0>', '</s>', '<pad>'],
      fixed: [true, true, true, false, false, false, false, false, false],
      masked: [5, 6],
      step: 3,
      steps: 8,
    };
    const pieces = textStatePieces(state);
    expect(pieces.map((p) => [p.text, p.kind])).toEqual([
      ['what', 'fixed'],
      ['colour', 'fixed'],
      ['?', 'fixed'],
      ['it', 'generated'],
      ['is', 'generated'],
      ['', 'masked'],
      ['', 'masked'],
    ]);
    expect(textStatePlain(state)).toBe('what colour? it is ___ ___');
  });

  test('plain word tokens join with spaces; numbers show as ids; text-only states', () => {
    expect(textStatePlain({ tokens: ['a', 'red', 'circle'], masked: [false, true, false] })).toBe(
      'a ___ circle',
    );
    expect(textStatePlain({ tokens: [5, 7] })).toBe('#5 #7');
    expect(textStatePlain({ tokens: [], text: 'so far' })).toBe('so far');
  });

  test('token ids with their pieces (what the masked text sampler sends); null pieces are masked', () => {
    const state = {
      tokens: [11, 12, 13, 3, 3, 1, 0],
      pieces: ['what', 'colour', '?', null, null, '</s>', '<pad>'],
      masked: [false, false, false, true, true, false, false],
      fixed: [true, true, true, false, false, false, false],
    };
    expect(textStatePieces(state).map((p) => p.kind)).toEqual([
      'fixed',
      'fixed',
      'fixed',
      'masked',
      'masked',
    ]);
    expect(textStatePlain(state)).toBe('what colour ? ___ ___');
    expect(textStatePlain({ tokens: [5, 6], pieces: ['red', null] })).toBe('red ___');
  });

  test('layout wraps at the width and gives blanks their own width', () => {
    const pieces = textStatePieces({
      tokens: ['aaaa', 'bbbb', 'cccc', 'x'],
      masked: [false, false, false, true],
    });
    const { placed, lines } = layoutPieces(pieces, (s) => s.length * 10, 95, 30);
    expect(lines).toBe(2);
    expect(placed.map((p) => [p.line, p.x])).toEqual([
      [0, 0],
      [0, 50],
      [1, 0],
      [1, 50],
    ]);
    expect(placed[3].width).toBe(30);
  });
});
