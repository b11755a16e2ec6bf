/** Socket and link colours by type name: fixed ones for the common types, a stable hash for the rest. */
const KNOWN: Record<string, string> = {
  INT: '#6fa8dc',
  FLOAT: '#76c7c0',
  STRING: '#8fd18f',
  BOOLEAN: '#c9a0dc',
  COMBO: '#b0b0b0',
  IMAGE: '#64b5f6',
  MASK: '#81c784',
  LATENT: '#ff9cf9',
  CONDITIONING: '#ffa931',
  DDIT_MODEL: '#b39ddb',
  MODEL: '#b39ddb',
  VAE: '#ff6e6e',
  CLIP: '#ffd500',
  TOKENIZER: '#ffd54f',
  TEXT_ENCODER: '#ffd500',
  TOKENS: '#e6c229',
  DATASET: '#a1887f',
  OPTIMIZER: '#f06292',
  '*': '#cccccc',
};

function hashHue(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return (h >>> 0) % 360;
}

function hslToHex(h: number, s: number, l: number): string {
  const k = (n: number) => (n + h / 30) % 12;
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => l - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)));
  const hex = (x: number) =>
    Math.round(x * 255)
      .toString(16)
      .padStart(2, '0');
  return `#${hex(f(0))}${hex(f(8))}${hex(f(4))}`;
}

/** The colour of a socket type; a union ('IMAGE,LATENT') takes its first member's colour. */
export function typeColor(type: string): string {
  const t = String(type).toUpperCase();
  if (KNOWN[t]) return KNOWN[t];
  const first = t.split(',')[0].trim();
  if (KNOWN[first]) return KNOWN[first];
  return hslToHex(hashHue(first), 0.55, 0.62);
}
