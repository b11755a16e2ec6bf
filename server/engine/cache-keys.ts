import { createHash } from 'crypto';
import type { ApiPrompt, Folders } from './types';
import type { NodeRegistry } from './registry';
import { isLink } from './validate';

export interface NodeKey {
  key: string;
  /** True when the node (or something upstream) is volatile: its result lives for one iteration only. */
  ephemeral: boolean;
}

function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'undefined';
  if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
  const o = v as Record<string, unknown>;
  return (
    '{' +
    Object.keys(o)
      .sort()
      .map((k) => JSON.stringify(k) + ':' + canonical(o[k]))
      .join(',') +
    '}'
  );
}

/**
 * Structural cache keys: class, fingerprint, constants and upstream keys. Node ids do not take part,
 * so the same sub-graph under other ids hits the cache. `nonce` differs per run (and per loop
 * iteration) and is mixed into volatile nodes only.
 */
export async function computeKeys(
  prompt: ApiPrompt,
  order: string[],
  registry: NodeRegistry,
  folders: Folders,
  nonce: string,
): Promise<Map<string, NodeKey>> {
  const keys = new Map<string, NodeKey>();
  for (const id of order) {
    const node = prompt[id];
    const def = registry.get(node.class_type)!;
    const h = createHash('sha1');
    h.update(node.class_type);
    let ephemeral = !!def.volatile;
    const names = Object.keys(node.inputs).sort();
    const constants: Record<string, unknown> = {};
    for (const name of names) {
      const v = node.inputs[name];
      h.update('\0' + name + '=');
      if (isLink(v)) {
        const up = keys.get(v[0])!;
        if (up.ephemeral) ephemeral = true;
        h.update('@' + up.key + ':' + v[1]);
      } else {
        constants[name] = v;
        h.update(canonical(v));
      }
    }
    if (def.fingerprint) {
      let fp: string | number;
      try {
        fp = await def.fingerprint(constants, folders);
      } catch (err) {
        // A fingerprint that cannot be computed must not serve stale results: force a rerun.
        fp = `error:${(err as Error).message}:${nonce}`;
      }
      h.update('\0fp=' + String(fp));
    }
    if (def.volatile) h.update('\0nonce=' + nonce);
    keys.set(id, { key: h.digest('hex'), ephemeral });
  }
  return keys;
}
