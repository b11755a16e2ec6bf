/**
 * The engine caches node outputs without knowing what they are. Hosts that own heavy values (the tensor
 * runtime) register hooks so the cache can weigh values and free them when they are evicted.
 */
export interface ValueHooks {
  /** Bytes held by the value, or undefined when this hook does not recognise it. */
  sizeOf(value: unknown): number | undefined;
  /** Free the value; return true when this hook recognised and handled it. */
  dispose(value: unknown): boolean;
}

const hooks: ValueHooks[] = [];

export function registerValueHooks(h: ValueHooks): void {
  if (!hooks.includes(h)) hooks.push(h);
}

function isPlainContainer(v: unknown): v is Record<string, unknown> | unknown[] {
  if (Array.isArray(v)) return true;
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

interface SelfDescribing {
  byteSize?: number;
  dispose?: () => void;
}

/** Approximate bytes held by a node output: hooks first, then self-described objects, then containers. */
export function sizeOfValue(value: unknown, depth = 0): number {
  if (value === null || value === undefined) return 0;
  for (const h of hooks) {
    const s = h.sizeOf(value);
    if (s !== undefined) return s;
  }
  switch (typeof value) {
    case 'string':
      return value.length * 2;
    case 'number':
    case 'boolean':
      return 8;
    case 'object':
      break;
    default:
      return 0;
  }
  if (ArrayBuffer.isView(value)) return value.byteLength;
  const self = value as SelfDescribing;
  if (typeof self.byteSize === 'number') return self.byteSize;
  if (depth < 3 && isPlainContainer(value)) {
    let total = 0;
    for (const v of Object.values(value)) total += sizeOfValue(v, depth + 1);
    return total;
  }
  return 64;
}

/** Collects the disposable leaves of a value (tensors, objects with dispose()) one container level deep. */
export function disposableLeaves(value: unknown, out: object[] = [], depth = 0): object[] {
  if (value === null || typeof value !== 'object') return out;
  if (isPlainContainer(value) && depth < 3) {
    for (const v of Object.values(value)) disposableLeaves(v, out, depth + 1);
    return out;
  }
  out.push(value);
  return out;
}

export function disposeValue(leaf: object): void {
  for (const h of hooks) if (h.dispose(leaf)) return;
  const self = leaf as SelfDescribing;
  if (typeof self.dispose === 'function') self.dispose();
}
