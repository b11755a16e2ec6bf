import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import {
  addPlugin,
  describeEntries,
  findEntry,
  packageNameOf,
  removePlugin,
  setPluginEnabled,
} from '../../../server/plugins/edit';
import { readPluginsConfig } from '../../../server/plugins';
import { shoutModule, tempDir, writeConfig, writePack } from '../plugins/helpers';

const root = path.resolve(__dirname, '..', '..', '..');

function makePack(dir: string, name: string, engine = '^0.1.0'): string {
  return writePack(dir, { name, main: 'index.js', ddit: { engine } }, { 'index.js': shoutModule() });
}

describe('plugins.json edits', () => {
  test('add links folders (relative inside the config folder, absolute outside) and refuses non-packs and clashes', () => {
    const dir = tempDir();
    const outside = tempDir();
    const config = writeConfig(dir, []);
    makePack(path.join(dir, 'packs', 'one'), 'ddit-pack-one');
    makePack(path.join(outside, 'two'), 'ddit-pack-two', '>=5');
    writePack(path.join(dir, 'plain'), { name: 'plain' }, {});
    makePack(path.join(dir, 'other-one'), 'one');

    expect(addPlugin(config, path.join(dir, 'packs', 'one'))).toMatchObject({ name: 'one', warnings: [] });
    const two = addPlugin(config, path.join(outside, 'two'), { enabled: false, settings: { n: 1 } });
    expect(two.warnings).toEqual([
      'ddit-pack-two requires ddit-studio >=5 but this is 0.1.0: it will be refused at load',
    ]);
    expect(readPluginsConfig(config).plugins).toEqual([
      { path: 'packs/one', enabled: true },
      { path: path.join(outside, 'two'), enabled: false, settings: { n: 1 } },
    ]);

    expect(() => addPlugin(config, path.join(dir, 'plain'))).toThrow('has no "ddit" object');
    expect(() => addPlugin(config, path.join(dir, 'packs', 'one'))).toThrow(
      'ddit-pack-one is already listed (entry 1)',
    );
    expect(() => addPlugin(config, path.join(dir, 'other-one'))).toThrow(
      "namespace 'one' is already used by entry 1 (packs/one); choose another with --name",
    );
    expect(() => addPlugin(config, './nowhere')).toThrow('folder not found');
    expect(addPlugin(config, path.join(dir, 'other-one'), { name: 'one_b' }).entry).toEqual({
      path: 'other-one',
      name: 'one_b',
      enabled: true,
    });
    expect(readPluginsConfig(config).plugins).toHaveLength(3);
  });

  test('add of an npm name installs it through npm (unless told not to) and lists the package', () => {
    const dir = tempDir();
    const config = writeConfig(dir, []);
    const calls: [string, string][] = [];
    // Stands in for npm (no network in tests): installs the package where npm would.
    const npmInstall = (spec: string, cwd: string): void => {
      calls.push([spec, cwd]);
      makePack(path.join(cwd, 'node_modules', '@acme', 'ddit-pack-fresh'), '@acme/ddit-pack-fresh');
    };
    expect(addPlugin(config, '@acme/ddit-pack-fresh@^1.2', { npmInstall }).entry).toEqual({
      package: '@acme/ddit-pack-fresh',
      enabled: true,
    });
    expect(calls).toEqual([['@acme/ddit-pack-fresh@^1.2', dir]]);

    makePack(path.join(dir, 'node_modules', 'ddit-pack-there'), 'ddit-pack-there');
    expect(addPlugin(config, 'ddit-pack-there', { install: false }).name).toBe('there');
    expect(() => addPlugin(config, 'ddit-pack-absent', { install: false })).toThrow(
      "package 'ddit-pack-absent' is not installed",
    );
    expect(() => addPlugin(config, 'Not A Name', { install: false })).toThrow(
      'neither a folder nor an npm package',
    );
    expect(readPluginsConfig(config).plugins.map((e) => e.package)).toEqual([
      '@acme/ddit-pack-fresh',
      'ddit-pack-there',
    ]);
  });

  test('enable, disable and remove find entries by namespace, package, path or position', () => {
    const dir = tempDir();
    makePack(path.join(dir, 'a'), 'ddit-pack-alpha');
    makePack(path.join(dir, 'node_modules', 'ddit-pack-beta'), 'ddit-pack-beta');
    const config = writeConfig(dir, [
      { path: 'a', enabled: true },
      { package: 'ddit-pack-beta', enabled: true, settings: { keep: true } },
      { path: 'gone', name: 'gone' },
    ]);
    expect(describeEntries(config).map((i) => i.name)).toEqual(['alpha', 'beta', 'gone']);
    setPluginEnabled(config, 'alpha', false);
    setPluginEnabled(config, 'ddit-pack-beta', false);
    setPluginEnabled(config, './a', true);
    setPluginEnabled(config, '3', false);
    expect(readPluginsConfig(config).plugins).toEqual([
      { path: 'a', enabled: true },
      { package: 'ddit-pack-beta', enabled: false, settings: { keep: true } },
      { path: 'gone', name: 'gone', enabled: false },
    ]);
    expect(() => findEntry(config, 'delta')).toThrow(
      "no plugin 'delta' in " + config + '; entries: 1: alpha (a), 2: beta (ddit-pack-beta), 3: gone (gone)',
    );
    expect(removePlugin(config, 'beta').entry.package).toBe('ddit-pack-beta');
    expect(removePlugin(config, 'gone').name).toBe('gone');
    expect(readPluginsConfig(config).plugins).toEqual([{ path: 'a', enabled: true }]);
  });

  test.each([
    ['ddit-pack-x', 'ddit-pack-x'],
    ['ddit-pack-x@^1.0.0', 'ddit-pack-x'],
    ['@scope/pack@latest', '@scope/pack'],
    ['https://example.com/x.tgz', undefined],
    ['git+ssh://git@host/x.git', undefined],
  ])('packageNameOf(%s)', (spec, name) => {
    expect(packageNameOf(spec)).toBe(name);
  });
});

describe('ddit plugins (CLI) and plugins in ddit run', () => {
  test('add, list, disable, enable, remove on a copy of plugins.json; run uses the enabled packs', () => {
    const dir = tempDir();
    const config = path.join(dir, 'plugins.json');
    // A copy of the project's plugins.json, its folders made absolute so that they still resolve from here.
    const before = readPluginsConfig(path.join(root, 'plugins.json')).plugins.map((e) =>
      e.path ? { ...e, path: path.join(root, e.path) } : e,
    );
    writeConfig(dir, before);
    makePack(path.join(dir, 'node_modules', 'ddit-pack-loud'), 'ddit-pack-loud');
    const ddit = (...args: string[]): { status: number | null; stdout: string; stderr: string } =>
      spawnSync(process.execPath, [path.join(root, 'bin', 'ddit.js'), ...args], {
        cwd: dir,
        encoding: 'utf8',
        env: { ...process.env, DDIT_PLUGINS: config },
      });

    const added = ddit('plugins', 'add', 'ddit-pack-loud', '--no-install', '--config', config);
    expect(added.stdout.trim()).toBe('added loud 1.0.0 (ddit-pack-loud); its nodes are loud.<Node>');
    expect(readPluginsConfig(config).plugins).toEqual([
      ...before,
      { package: 'ddit-pack-loud', enabled: true },
    ]);

    // Real Node resolves the pack's require('ddit-studio/plugin-api') through the loader's alias.
    const listed = JSON.parse(ddit('plugins', 'list', '--json', '--config', config).stdout);
    expect(listed.map((r: { name: string; status: string }) => [r.name, r.status])).toEqual([
      ...before.map(() => [expect.any(String), 'loaded']),
      ['loud', 'loaded'],
    ]);

    const workflow = path.join(dir, 'loud.json');
    fs.writeFileSync(
      workflow,
      JSON.stringify({
        '1': { class_type: 'loud.Shout', inputs: { text: 'from a plugin' } },
        '2': { class_type: 'ShowText', inputs: { text: ['1', 0] } },
      }),
    );
    const run = ddit('run', workflow, '-q', '--out', dir);
    expect(run.stdout.trim()).toBe('#2 text: FROM A PLUGIN!');

    expect(ddit('plugins', 'disable', 'loud', '--config', config).stdout.trim()).toBe('loud: disabled');
    expect(readPluginsConfig(config).plugins.at(-1)).toEqual({ package: 'ddit-pack-loud', enabled: false });
    const refused = ddit('run', workflow, '-q', '--out', dir);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('loud.Shout');

    expect(ddit('plugins', 'enable', 'ddit-pack-loud', '--config', config).stdout.trim()).toBe(
      'loud: enabled',
    );
    expect(ddit('plugins', 'remove', 'loud', '--config', config).stdout.trim()).toBe(
      'removed loud (npm uninstall ddit-pack-loud deletes it)',
    );
    expect(readPluginsConfig(config).plugins).toEqual(before);
    const missing = ddit('plugins', 'remove', 'loud', '--config', config);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain("ddit: no plugin 'loud'");
  });
});
