import * as path from 'path';
import type { Command } from 'commander';
import { NodeRegistry, loadBuiltinPacks } from '../engine/registry';
import { defaultConfigPath, loadPlugins, publicReport, type PluginReport } from '../plugins';
import { addPlugin, removePlugin, setPluginEnabled } from '../plugins/edit';

interface ConfigFlag {
  config?: string;
}

function configFile(flags: ConfigFlag): string {
  return path.resolve(flags.config ?? defaultConfigPath());
}

function printReports(reports: PluginReport[]): void {
  if (reports.length === 0) {
    console.log('no plugins listed (ddit plugins add <folder | npm package>)');
    return;
  }
  reports.forEach((r, i) => {
    const what = r.status === 'loaded' ? `${r.nodes.length} nodes` : r.status;
    console.log(
      `${String(i + 1).padStart(2)}. ${r.name.padEnd(16)} ${(r.version ?? '').padEnd(9)} ${what}  ${r.location}`,
    );
    if (r.error) console.log(`      error: ${r.error}`);
    for (const w of r.warnings) console.log(`      warning: ${w}`);
  });
}

/** `ddit plugins list|add|remove|enable|disable`: manage plugins.json (the packs every host loads). */
export function register(program: Command): void {
  const plugins = program
    .command('plugins')
    .description('community node packs: list them, add a folder or npm package, enable, disable, remove');

  plugins
    .command('list', { isDefault: true })
    .description('load every listed pack (as the server would) and say what happened to each')
    .option('--config <file>', 'plugins.json to use')
    .option('--json', 'print the reports as JSON')
    .action((flags: ConfigFlag & { json?: boolean }) => {
      const registry = new NodeRegistry();
      loadBuiltinPacks(registry);
      const quiet = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };
      const reports = loadPlugins(registry, { config: configFile(flags), log: quiet });
      if (flags.json) console.log(JSON.stringify(reports.map(publicReport), null, 2));
      else printReports(reports);
      // Packs may have started tensor backends whose threads keep the process alive.
      process.exit(reports.some((r) => r.status === 'failed') ? 1 : 0);
    });

  plugins
    .command('add')
    .description('add a pack: a folder (linked in place) or an npm package (installed with npm)')
    .argument('<folder|package>', 'a folder with a ddit pack, or an npm spec such as ddit-pack-foo@^1')
    .option('--name <namespace>', 'load it under this namespace instead of the derived one')
    .option('--disabled', 'add it switched off')
    .option('--no-install', 'for an npm package already installed: do not run npm install')
    .option('--config <file>', 'plugins.json to edit')
    .action((spec: string, flags: ConfigFlag & { name?: string; disabled?: boolean; install: boolean }) => {
      const r = addPlugin(configFile(flags), spec, {
        name: flags.name,
        enabled: !flags.disabled,
        install: flags.install,
      });
      for (const w of r.warnings) console.error(`warning: ${w}`);
      console.log(
        `added ${r.name} ${r.version} (${r.entry.package ?? r.entry.path})${r.entry.enabled ? '' : ', disabled'}; ` +
          `its nodes are ${r.name}.<Node>`,
      );
    });

  plugins
    .command('remove')
    .description('remove a pack from plugins.json (an npm package stays installed)')
    .argument('<id>', 'namespace, package name, folder or position in the list')
    .option('--config <file>', 'plugins.json to edit')
    .action((id: string, flags: ConfigFlag) => {
      const r = removePlugin(configFile(flags), id);
      const where = r.entry.package ?? r.entry.path;
      console.log(
        `removed ${r.name ?? where}${r.entry.package ? ` (npm uninstall ${r.entry.package} deletes it)` : ''}`,
      );
    });

  for (const [cmd, enabled] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    plugins
      .command(cmd)
      .description(`${cmd} a pack listed in plugins.json (takes effect when a host next starts)`)
      .argument('<id>', 'namespace, package name, folder or position in the list')
      .option('--config <file>', 'plugins.json to edit')
      .action((id: string, flags: ConfigFlag) => {
        const r = setPluginEnabled(configFile(flags), id, enabled);
        console.log(`${r.name ?? r.entry.package ?? r.entry.path}: ${enabled ? 'enabled' : 'disabled'}`);
      });
  }
}
