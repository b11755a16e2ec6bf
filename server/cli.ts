import * as fs from 'fs';
import * as path from 'path';
import { Command } from 'commander';

/**
 * `ddit`: every file in server/commands registers its own subcommand, so features (serve, eval,
 * bench, plugins) plug in without editing this file.
 */
export function buildProgram(): Command {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  const program = new Command('ddit')
    .description(
      'ddit-studio: node-graph workflows for Dual Diffusion (text-to-image, captioning, VQA, training)',
    )
    .version(pkg.version);
  const dir = path.join(__dirname, 'commands');
  for (const f of fs.readdirSync(dir).sort()) {
    if (!/\.(ts|js)$/.test(f) || f.endsWith('.d.ts')) continue;

    const mod = require(path.join(dir, f)) as { register?: (p: Command) => void };
    mod.register?.(program);
  }
  return program;
}

if (require.main === module || process.argv[1]?.endsWith(path.join('bin', 'ddit.js'))) {
  buildProgram()
    .parseAsync(process.argv)
    .catch((err: Error) => {
      console.error(`ddit: ${err.message}`);
      process.exit(1);
    });
}
