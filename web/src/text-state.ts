/**
 * Turns a `ddit.text_state` message into drawable pieces: the fixed question in one colour, generated
 * tokens in another, still-masked positions as blanks; then wraps them into lines. Pure (the text
 * measure is passed in), so the canvas drawing stays a thin loop.
 */
import type { TextState } from './protocol';

export type PieceKind = 'fixed' | 'generated' | 'masked';
export interface Piece {
  text: string;
  kind: PieceKind;
  /** A space goes before this piece. */
  space: boolean;
}

const SP = '\u2581'; // SentencePiece's word-boundary mark
const SPECIAL = /^<\/?(pad|s|unk)>$/;
const MASK_TOKEN = /^<(mask|extra_id_0)>$|^\[MASK\]$/;

function flags(v: boolean[] | number[] | undefined, n: number): boolean[] {
  const out = new Array<boolean>(n).fill(false);
  if (!v) return out;
  if (v.length && typeof v[0] === 'number') {
    for (const i of v as number[]) if (i >= 0 && i < n) out[i] = true;
  } else {
    for (let i = 0; i < Math.min(n, v.length); i++) out[i] = !!v[i];
  }
  return out;
}

/** The pieces of a text state, in order, without padding and end tokens. */
export function textStatePieces(state: TextState): Piece[] {
  const tokens = state.tokens ?? [];
  if (!tokens.length) return state.text ? [{ text: state.text, kind: 'generated', space: false }] : [];
  const masked = flags(state.masked, tokens.length);
  const fixed = flags(state.fixed, tokens.length);
  const strs = tokens.map((t, i) => {
    const piece = state.pieces?.[i];
    if (typeof piece === 'string') return piece;
    return typeof t === 'number' ? `#${t}` : t;
  });
  if (state.pieces) state.pieces.forEach((p, i) => p === null && i < masked.length && (masked[i] = true));
  const sentencePiece = strs.some((t) => t.startsWith(SP));
  const pieces: Piece[] = [];
  strs.forEach((t, i) => {
    const isMask = masked[i] || MASK_TOKEN.test(t);
    if (!isMask && (SPECIAL.test(t) || !t.trim())) return;
    const kind: PieceKind = isMask ? 'masked' : fixed[i] ? 'fixed' : 'generated';
    let text = t;
    let space = pieces.length > 0;
    if (sentencePiece && !isMask) {
      space = t.startsWith(SP) && pieces.length > 0;
      text = t.replace(/^\u2581+/, '');
      if (!text) return;
    }
    pieces.push({ text: isMask ? '' : text, kind, space: isMask ? pieces.length > 0 : space });
  });
  return pieces;
}

export interface PlacedPiece extends Piece {
  x: number;
  line: number;
  width: number;
}

/** Wraps pieces into lines `maxWidth` wide; masked pieces take `blankWidth`. */
export function layoutPieces(
  pieces: Piece[],
  measure: (s: string) => number,
  maxWidth: number,
  blankWidth: number,
): { placed: PlacedPiece[]; lines: number } {
  const space = measure(' ');
  const placed: PlacedPiece[] = [];
  let x = 0;
  let line = 0;
  for (const p of pieces) {
    const width = p.kind === 'masked' ? blankWidth : measure(p.text);
    const gap = p.space && x > 0 ? space : 0;
    if (x > 0 && x + gap + width > maxWidth) {
      line++;
      x = 0;
      placed.push({ ...p, x, line, width });
      x = width;
    } else {
      placed.push({ ...p, x: x + gap, line, width });
      x += gap + width;
    }
  }
  return { placed, lines: pieces.length ? line + 1 : 0 };
}

/** Plain text of a state with blanks for masked positions (tooltips, tests, accessibility). */
export function textStatePlain(state: TextState, blank = '___'): string {
  return textStatePieces(state)
    .map((p) => (p.space ? ' ' : '') + (p.kind === 'masked' ? blank : p.text))
    .join('');
}
