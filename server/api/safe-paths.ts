import * as fs from 'fs';
import * as path from 'path';
import { HttpError } from './http-errors';

/** Rejects what could leave a folder: absolute paths, drive letters, `..`, NUL, backslashes. */
export function checkRelative(what: string, value: string, opts: { allowSlash: boolean }): void {
  if (value.includes('\0')) throw new HttpError(400, 'invalid_path', `${what} contains a NUL byte`);
  if (path.isAbsolute(value) || /^[A-Za-z]:/.test(value) || value.startsWith('/') || value.includes('\\')) {
    throw new HttpError(400, 'invalid_path', `${what} must be a relative path without backslashes`);
  }
  if (value.split('/').some((seg) => seg === '..')) {
    throw new HttpError(400, 'invalid_path', `${what} must not contain '..'`);
  }
  if (!opts.allowSlash && value.includes('/')) {
    throw new HttpError(400, 'invalid_path', `${what} must be a plain file name`);
  }
}

/**
 * `base/sub/name`, checked lexically (stays under base) and, for whatever already exists on the way,
 * after resolving symlinks (a link inside the folder must not lead out of it).
 */
export function confinedPath(base: string, ...parts: string[]): string {
  const root = path.resolve(base);
  const full = path.resolve(root, ...parts);
  if (full !== root && !full.startsWith(root + path.sep)) {
    throw new HttpError(403, 'forbidden_path', 'path leaves its folder');
  }
  const realRoot = fs.existsSync(root) ? fs.realpathSync(root) : root;
  // The deepest existing ancestor (or the file itself) must resolve inside the real root.
  let probe = full;
  while (!fs.existsSync(probe) && probe !== root) probe = path.dirname(probe);
  if (fs.existsSync(probe)) {
    const real = fs.realpathSync(probe);
    if (real !== realRoot && !real.startsWith(realRoot + path.sep)) {
      throw new HttpError(403, 'forbidden_path', 'path leads out of its folder through a symbolic link');
    }
  }
  return full;
}

/** Writes through a temporary file and a rename, so readers never see half a file. */
export function writeAtomic(file: string, data: Buffer | string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}
