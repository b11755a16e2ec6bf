import * as fs from 'fs';
import type { Command } from 'commander';
import { createEngine, toApiPrompt, toObjectInfo } from '../engine';

export function register(program: Command): void {
  program
    .command('nodes')
    .description('list the node types (with --json: the object_info map)')
    .option('--json', 'print ComfyUI-shaped object_info JSON')
    .option('-c, --category <prefix>', 'only this category')
    .action((flags: { json?: boolean; category?: string }) => {
      const engine = createEngine({ plugins: true });
      const defs = engine.registry
        .list()
        .filter((d) => !flags.category || d.category.startsWith(flags.category))
        .sort((a, b) => a.category.localeCompare(b.category) || a.type.localeCompare(b.type));
      if (flags.json) {
        const info: Record<string, unknown> = {};
        for (const d of defs) info[d.type] = toObjectInfo(d);
        console.log(JSON.stringify(info, null, 2));
      } else {
        let cat = '';
        for (const d of defs) {
          if (d.category !== cat) console.log(`\n${(cat = d.category)}`);
          console.log(`  ${d.type.padEnd(26)} ${d.description.split('\n')[0]}`);
        }
      }
      process.exit(0);
    });

  program
    .command('convert')
    .description('print the API-format graph of an editor-format workflow')
    .argument('<workflow>', 'editor workflow JSON')
    .action((file: string) => {
      const engine = createEngine({ plugins: true });
      const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
      console.log(JSON.stringify(toApiPrompt(doc, engine.registry), null, 2));
      process.exit(0);
    });
}
