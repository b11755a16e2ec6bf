import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { Command } from 'commander';

const BENCH_DIR = path.resolve(__dirname, '..', '..', 'test', 'bench');

/** Each test/bench/<name>-bench.ts is a script that prints its own figures. */
export function listBenches(): string[] {
  if (!fs.existsSync(BENCH_DIR)) return [];
  return fs
    .readdirSync(BENCH_DIR)
    .filter((f) => f.endsWith('-bench.ts'))
    .map((f) => f.replace(/-bench\.ts$/, ''))
    .sort();
}

export function register(program: Command): void {
  program
    .command('bench')
    .description('run the benchmarks (all, or the named ones) and print their figures')
    .argument('[names...]', `benchmarks to run (${listBenches().join(', ') || 'none found'})`)
    .action((names: string[]) => {
      const all = listBenches();
      const chosen = names.length ? names : all;
      const unknown = chosen.filter((n) => !all.includes(n));
      if (unknown.length)
        throw new Error(`unknown benchmark ${unknown.join(', ')}; available: ${all.join(', ')}`);
      let failed = 0;
      for (const name of chosen) {
        console.log(`\n=== ${name} ===`);
        const r = spawnSync(
          process.execPath,
          ['--require', 'tsx/cjs', path.join(BENCH_DIR, `${name}-bench.ts`)],
          {
            stdio: 'inherit',
          },
        );
        if (r.status !== 0) failed++;
      }
      process.exit(failed ? 1 : 0);
    });
}
