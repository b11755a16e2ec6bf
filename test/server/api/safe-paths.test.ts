import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { HttpError } from '../../../server/api/http-errors';
import { checkRelative, confinedPath } from '../../../server/api/safe-paths';
import { parseWorkflowName } from '../../../server/api/routes/workflows';

function status(fn: () => unknown): number {
  try {
    fn();
    return 200;
  } catch (err) {
    if (err instanceof HttpError) return err.status;
    throw err;
  }
}

describe('path confinement', () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-paths-'));
  const root = path.join(base, 'output');
  fs.mkdirSync(path.join(root, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(base, 'outside.txt'), 'x');
  fs.symlinkSync(path.join(base, 'outside.txt'), path.join(root, 'escape.txt'));
  fs.symlinkSync(base, path.join(root, 'up'));
  fs.symlinkSync(path.join(root, 'sub'), path.join(root, 'inner'));

  test('relative names without traversal', () => {
    expect(status(() => checkRelative('f', 'a.png', { allowSlash: false }))).toBe(200);
    expect(status(() => checkRelative('f', 'a/b.png', { allowSlash: true }))).toBe(200);
    expect(status(() => checkRelative('f', 'a..b.png', { allowSlash: false }))).toBe(200);
    for (const bad of ['../a', 'a/../../b', '/etc/passwd', 'C:/x', 'a\\b', 'a\0b']) {
      expect([bad, status(() => checkRelative('f', bad, { allowSlash: true }))]).toEqual([bad, 400]);
    }
    expect(status(() => checkRelative('f', 'a/b', { allowSlash: false }))).toBe(400);
  });

  test('symlinks may not lead out of the folder; links inside it are fine', () => {
    expect(confinedPath(root, 'sub', 'new.png')).toBe(path.join(root, 'sub', 'new.png'));
    expect(confinedPath(root, 'inner', 'x.png')).toBe(path.join(root, 'inner', 'x.png'));
    expect(status(() => confinedPath(root, 'escape.txt'))).toBe(403);
    expect(status(() => confinedPath(root, 'up', 'outside.txt'))).toBe(403);
    expect(status(() => confinedPath(root, 'up', 'not-yet', 'file.png'))).toBe(403);
    expect(status(() => confinedPath(root, '..', 'outside.txt'))).toBe(403);
  });

  test('workflow names are plain segments', () => {
    expect(parseWorkflowName('examples/arithmetic')).toEqual(['examples', 'arithmetic']);
    expect(parseWorkflowName(['examples', 'arithmetic.json'])).toEqual(['examples', 'arithmetic']);
    expect(parseWorkflowName('My flow (v2)')).toEqual(['My flow (v2)']);
    for (const bad of ['..', '../x', 'a//b', '.hidden', 'a/.git/config', 'x.', 'a\\b', '', 'a/b/c/d/e/f/g']) {
      expect([bad, status(() => parseWorkflowName(bad))]).toEqual([bad, 400]);
    }
  });
});
