import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { EXAMPLE_INPUT, seedExampleInput } from '../../../server/api/config';

describe('input folder seeding', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-input-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a fresh input folder gets the example image the shipped workflows load', () => {
    seedExampleInput(dir);
    expect(fs.readFileSync(path.join(dir, 'example.png'))).toEqual(fs.readFileSync(EXAMPLE_INPUT));
  });

  test("a user's own example.png is kept", () => {
    fs.writeFileSync(path.join(dir, 'example.png'), 'mine');
    seedExampleInput(dir);
    expect(fs.readFileSync(path.join(dir, 'example.png'), 'utf8')).toBe('mine');
  });
});
