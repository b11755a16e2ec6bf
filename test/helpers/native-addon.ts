import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { DEFAULT_ADDON_PATH } from '../../server/runtime/native-kernels';

const root = path.resolve(__dirname, '../..');
const lock = path.join(root, 'native', '.build-lock');

function stale(): boolean {
  const sources = [path.join(root, 'native/binding.gyp'), ...listFiles(path.join(root, 'native/src'))];
  const built = fs.existsSync(DEFAULT_ADDON_PATH) ? fs.statSync(DEFAULT_ADDON_PATH).mtimeMs : 0;
  return sources.some((f) => fs.statSync(f).mtimeMs > built);
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Builds this checkout's (gitignored) native addon when it is missing or older than its sources, so tests
 * never load a stale binary. Test files run in parallel workers, so one builds while the others wait.
 * Call before anything loads the addon.
 */
export function ensureNativeAddon(): void {
  const deadline = Date.now() + 5 * 60 * 1000;
  while (stale()) {
    let owner = false;
    try {
      fs.mkdirSync(lock);
      owner = true;
    } catch {
      // another worker is building
    }
    if (owner) {
      try {
        if (stale())
          execFileSync(process.execPath, [path.join(root, 'scripts/build-native.js')], { stdio: 'ignore' });
      } finally {
        fs.rmdirSync(lock);
      }
      return;
    }
    if (Date.now() > deadline) return; // the test then reports the addon as unavailable
    sleep(500);
  }
}

function listFiles(dir: string): string[] {
  return fs.readdirSync(dir).map((f) => path.join(dir, f));
}
