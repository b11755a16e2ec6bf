/**
 * Files behind the loader and image nodes: where the folders are when a COMBO lists its choices (the
 * choices function gets no node context), listing, safe resolution of a chosen name, and the mtime+size
 * fingerprint loaders give the engine cache.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Folders } from '../../server/engine/types';

const REPO_ROOT = path.resolve(__dirname, '..', '..');

/**
 * Folders used when listing choices: DDIT_MODELS_DIR / DDIT_INPUT_DIR, else the server's defaults
 * (models/ of the checkout, input/ of the working directory). At run time nodes use ctx.folders.
 */
export function defaultFolders(): Folders {
  const cwd = process.cwd();
  return {
    models: path.resolve(process.env.DDIT_MODELS_DIR ?? path.join(REPO_ROOT, 'models')),
    input: path.resolve(process.env.DDIT_INPUT_DIR ?? path.join(cwd, 'input')),
    output: path.resolve(process.env.DDIT_OUTPUT_DIR ?? path.join(cwd, 'output')),
    temp: path.resolve(process.env.DDIT_TEMP_DIR ?? path.join(cwd, 'temp')),
  };
}

/**
 * Relative paths (with '/') of files under `dir` whose names end with one of `exts`, up to `depth` folder
 * levels deep, sorted. A missing folder lists nothing.
 */
export function listFiles(
  dir: string,
  exts: string[],
  depth = 2,
  test?: (name: string) => boolean,
): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string, level: number): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (level < depth) walk(path.join(d, e.name), r, level + 1);
      } else if (exts.some((x) => e.name.toLowerCase().endsWith(x)) && (!test || test(e.name))) {
        out.push(r);
      }
    }
  };
  walk(dir, '', 0);
  return out.sort();
}

/** Resolves a listed name inside `dir`, refusing absolute paths and '..' escapes. */
export function resolveInside(dir: string, name: string, what = 'file'): string {
  if (typeof name !== 'string' || name.trim() === '') throw new Error(`no ${what} chosen`);
  const root = path.resolve(dir);
  const full = path.resolve(root, name);
  if (path.isAbsolute(name) || (full !== root && !full.startsWith(root + path.sep))) {
    throw new Error(`${what} '${name}' is outside ${root}`);
  }
  if (!fs.existsSync(full)) throw new Error(`${what} '${name}' not found in ${root}`);
  return full;
}

/** "mtime:size" of a file (changes whenever the file is replaced or rewritten); 'missing' when absent. */
export function fileFingerprint(file: string): string {
  try {
    const st = fs.statSync(file);
    return `${st.mtimeMs}:${st.size}`;
  } catch {
    return 'missing';
  }
}

/** Fingerprint of a name inside a folder, without throwing for bad names (validation reports those). */
export function fingerprintInside(dir: string, name: string | undefined): string {
  if (!name) return 'none';
  return fileFingerprint(path.resolve(dir, name));
}
