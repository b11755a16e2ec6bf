import * as fs from 'fs';
import * as path from 'path';

/** The project root: where package.json and the default plugins.json live. */
export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');

/**
 * The version packs' `ddit.engine` ranges are checked against: the project's own version, read once from
 * package.json so that a release bump is the only place it changes.
 */
export const ENGINE_VERSION: string = (
  JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;
