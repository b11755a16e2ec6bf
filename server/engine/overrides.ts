import type { ApiPrompt } from './types';

export class OverrideError extends Error {}

/**
 * Parses a command-line value: JSON scalars and links (`["4",0]`) when it parses, text otherwise. A JSON
 * object stays text, because the only inputs that take objects are STRING widgets holding JSON configs.
 */
export function parseValue(raw: string): unknown {
  try {
    const v = JSON.parse(raw) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? raw : v;
  } catch {
    return raw;
  }
}

/**
 * Applies `node.input=value` overrides. `node` is a node id or a node title (`_meta.title`, matched
 * case-insensitively), so `--set prompt.text="a red circle"` works on workflows with titled nodes.
 */
export function applyOverrides(prompt: ApiPrompt, overrides: Record<string, unknown>): ApiPrompt {
  const out: ApiPrompt = JSON.parse(JSON.stringify(prompt));
  for (const [target, value] of Object.entries(overrides)) {
    const dot = target.lastIndexOf('.');
    if (dot <= 0 || dot === target.length - 1) {
      throw new OverrideError(`override '${target}': expected <node>.<input>`);
    }
    const nodeRef = target.slice(0, dot);
    const input = target.slice(dot + 1);
    let ids = out[nodeRef] ? [nodeRef] : [];
    if (!ids.length) {
      ids = Object.keys(out).filter((id) => out[id]._meta?.title?.toLowerCase() === nodeRef.toLowerCase());
    }
    if (!ids.length) {
      const titled = Object.entries(out)
        .map(([id, n]) => (n._meta?.title ? `${id} ("${n._meta.title}")` : id))
        .join(', ');
      throw new OverrideError(
        `override '${target}': no node with id or title '${nodeRef}' (nodes: ${titled})`,
      );
    }
    if (ids.length > 1)
      throw new OverrideError(
        `override '${target}': title '${nodeRef}' names several nodes (${ids.join(', ')})`,
      );
    out[ids[0]].inputs[input] = value;
  }
  return out;
}

/** Parses repeated `--set a.b=c` flags into an override map. */
export function parseSetFlags(flags: string[]): Record<string, unknown> {
  const map: Record<string, unknown> = {};
  for (const f of flags) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw new OverrideError(`--set '${f}': expected <node>.<input>=<value>`);
    map[f.slice(0, eq)] = parseValue(f.slice(eq + 1));
  }
  return map;
}
