import * as fs from 'fs';
import * as path from 'path';
import type { AnyNodeDefinition } from './types';
import { WIDGET_TYPES } from './types';

export class RegistryError extends Error {}

const TYPE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/** All node types known to an engine. Duplicates are refused with both sources named. */
export class NodeRegistry {
  private readonly defs = new Map<string, AnyNodeDefinition>();
  /** Bumped on every change so derived data (schemas, object_info) can be cached. */
  version = 0;

  register(def: AnyNodeDefinition, source: string): void {
    if (!def || typeof def !== 'object' || typeof def.run !== 'function') {
      throw new RegistryError(`${source}: a node definition must be an object with a run() function`);
    }
    if (typeof def.type !== 'string' || !TYPE_NAME.test(def.type)) {
      throw new RegistryError(`${source}: invalid node type name ${JSON.stringify(def.type)}`);
    }
    const existing = this.defs.get(def.type);
    if (existing) {
      throw new RegistryError(
        `Duplicate node type '${def.type}': defined by ${existing.source ?? 'unknown'} and by ${source}`,
      );
    }
    for (const [name, spec] of Object.entries((def.inputs ?? {}) as Record<string, { type?: unknown }>)) {
      if (!spec || typeof spec.type !== 'string') {
        throw new RegistryError(`${source}: node '${def.type}' input '${name}' has no type`);
      }
      if (spec.type === 'COMBO' && !('choices' in spec)) {
        throw new RegistryError(`${source}: node '${def.type}' input '${name}' is a COMBO without choices`);
      }
    }
    this.defs.set(def.type, { ...def, source });
    this.version++;
  }

  registerAll(defs: readonly AnyNodeDefinition[], source: string): void {
    for (const d of defs) this.register(d, source);
  }

  unregisterSource(source: string): void {
    for (const [k, d] of this.defs) if (d.source === source) this.defs.delete(k);
    this.version++;
  }

  get(type: string): AnyNodeDefinition | undefined {
    return this.defs.get(type);
  }

  has(type: string): boolean {
    return this.defs.has(type);
  }

  list(): AnyNodeDefinition[] {
    return [...this.defs.values()];
  }
}

export function isWidgetType(type: string): boolean {
  return (WIDGET_TYPES as readonly string[]).includes(type);
}

/** Where the built-in packs live: every nodes/<pack>/index.ts exporting `nodes`. */
export const BUILTIN_NODES_DIR = path.resolve(__dirname, '..', '..', 'nodes');

/**
 * Registers every built-in pack found under `nodes/`. A pack that fails to import is an error for
 * built-ins (they ship with the project), reported with the pack's path.
 */
export function loadBuiltinPacks(registry: NodeRegistry, dir = BUILTIN_NODES_DIR): string[] {
  const loaded: string[] = [];
  const packs = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  for (const pack of packs) {
    const index = ['index.ts', 'index.js'].map((f) => path.join(dir, pack, f)).find((f) => fs.existsSync(f));
    if (!index) continue;

    const mod = require(index) as { nodes?: AnyNodeDefinition[] };
    if (!Array.isArray(mod.nodes)) throw new RegistryError(`${index} does not export a 'nodes' array`);
    registry.registerAll(mod.nodes, `builtin:${pack}`);
    loaded.push(pack);
  }
  return loaded;
}
