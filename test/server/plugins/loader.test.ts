import * as fs from 'fs';
import * as path from 'path';
import { Engine, NodeRegistry, createEngine, defineNode, loadBuiltinPacks } from '../../../server/engine';
import {
  derivePackName,
  extensionScripts,
  loadPlugins,
  pluginSocketTypes,
  publicReport,
  resolveExtensionFile,
} from '../../../server/plugins';
import { recordingLog, shoutModule, tempDir, writeConfig, writePack } from './helpers';

const silent = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };

function builtins(): NodeRegistry {
  const registry = new NodeRegistry();
  loadBuiltinPacks(registry);
  return registry;
}

function engineOver(registry: NodeRegistry, dir: string): Engine {
  return new Engine({ registry, folders: { output: dir, input: dir, temp: dir }, log: silent });
}

const GREET_TS = `
import { defineNode, type PackContext } from 'ddit-studio/plugin-api';

export const nodes = (pack: PackContext) => [
  defineNode({
    type: 'Greet',
    category: 'test/text',
    description: 'Greets someone with the greeting from the pack settings',
    inputs: { name: { type: 'STRING', default: 'world' } },
    outputs: { text: { type: 'STRING' } },
    run: ({ name }) => ({ text: \`\${String(pack.settings.greeting ?? 'hello')} \${name}\` }),
  }),
];
`;

describe('loadPlugins', () => {
  test('a folder pack and an npm package load under their namespaces and run in one workflow', async () => {
    const root = tempDir();
    writePack(
      path.join(root, 'packs', 'greet'),
      { name: 'ddit-pack-greet', ddit: { engine: '^0.1.0', nodes: ['src/index.ts'] } },
      { 'src/index.ts': GREET_TS },
    );
    // npm style: plain CommonJS under node_modules, found through "main".
    writePack(
      path.join(root, 'node_modules', '@acme', 'ddit-nodes-shout'),
      {
        name: '@acme/ddit-nodes-shout',
        version: '2.3.4',
        main: 'lib/index.js',
        ddit: { engine: '>=0.1.0 <1' },
      },
      { 'lib/index.js': shoutModule() },
    );
    const config = writeConfig(root, [
      { path: 'packs/greet', enabled: true, settings: { greeting: 'hello' } },
      { package: '@acme/ddit-nodes-shout', enabled: true },
    ]);
    const registry = builtins();
    const log = recordingLog();
    const reports = loadPlugins(registry, { config, log });

    expect(reports.map((r) => [r.name, r.source, r.status, r.nodes])).toEqual([
      ['greet', 'folder', 'loaded', ['greet.Greet']],
      ['shout', 'npm', 'loaded', ['shout.Shout']],
    ]);
    expect(reports[1]).toMatchObject({
      package: '@acme/ddit-nodes-shout',
      version: '2.3.4',
      engine: '>=0.1.0 <1',
    });
    expect(registry.get('shout.Shout')).toMatchObject({ displayName: 'Shout', source: 'plugin:shout' });
    expect(log.lines).toContainEqual(expect.stringMatching(/^info plugin greet 1\.0\.0: 1 nodes/));

    const result = await engineOver(registry, root).execute({
      '1': { class_type: 'greet.Greet', inputs: { name: 'ada' } },
      '2': { class_type: 'shout.Shout', inputs: { text: ['1', 0] } },
      '3': { class_type: 'ShowText', inputs: { text: ['2', 0] } },
    });
    expect(result.status).toBe('success');
    expect(result.outputs['3'].text).toEqual(['HELLO ADA!']);
  });

  test('broken packs are reported with the reason, logged, and the others still load', () => {
    const root = tempDir();
    writePack(
      path.join(root, 'syntax'),
      { name: 'ddit-pack-syntax', main: 'index.js', ddit: { engine: '^0.1' } },
      {
        'index.js': 'exports.nodes = [;\n',
      },
    );
    writePack(
      path.join(root, 'throws'),
      { name: 'ddit-pack-throws', main: 'index.js', ddit: { engine: '^0.1' } },
      {
        'index.js': "throw new Error('libfoo.so: cannot open shared object file');\n",
      },
    );
    writePack(
      path.join(root, 'nothing'),
      { name: 'ddit-pack-nothing', main: 'index.js', ddit: { engine: '^0.1' } },
      {
        'index.js': 'exports.something = 1;\n',
      },
    );
    writePack(
      path.join(root, 'bad-node'),
      { name: 'ddit-pack-badnode', main: 'i.js', ddit: { engine: '^0.1' } },
      {
        'i.js':
          "exports.nodes = [{ type: 'NoRun', category: 'x', description: '', inputs: {}, outputs: {} }];\n",
      },
    );
    writePack(path.join(root, 'plain'), { name: 'not-a-pack', main: 'index.js' }, { 'index.js': '' });
    writePack(
      path.join(root, 'good'),
      { name: 'ddit-pack-good', main: 'index.js', ddit: { engine: '^0.1.0' } },
      {
        'index.js': shoutModule(),
      },
    );
    const config = writeConfig(root, [
      { path: 'syntax' },
      { path: 'throws' },
      { path: 'nothing' },
      { path: 'bad-node' },
      { path: 'plain' },
      { path: 'missing' },
      { package: 'ddit-pack-not-installed' },
      { path: 'good', package: 'good' },
      { path: 'good' },
    ]);
    const registry = builtins();
    const log = recordingLog();
    const reports = loadPlugins(registry, { config, log });

    const byLocation = Object.fromEntries(reports.map((r) => [r.location, r]));
    expect(reports.map((r) => r.status)).toEqual([...Array(8).fill('failed'), 'loaded']);
    expect(byLocation.syntax.error).toContain(path.join(root, 'syntax', 'index.js'));
    expect(byLocation.throws.error).toBe('libfoo.so: cannot open shared object file');
    expect(byLocation.nothing.error).toContain('index.js does not export "nodes"');
    expect(byLocation['bad-node'].error).toContain(
      'a node definition must be an object with a run() function',
    );
    expect(byLocation.plain.error).toContain('has no "ddit" object');
    expect(byLocation.missing.error).toContain(`folder not found: ${path.join(root, 'missing')}`);
    expect(byLocation['ddit-pack-not-installed'].error).toContain(
      "package 'ddit-pack-not-installed' is not installed",
    );
    expect(reports[7].error).toContain('give exactly one of "path"');
    expect(reports[8]).toMatchObject({ name: 'good', nodes: ['good.Shout'] });
    // Names come from the package even when the pack failed, and every failure reaches the log.
    expect(byLocation.throws.name).toBe('throws');
    expect(log.lines.filter((l) => l.startsWith('error '))).toHaveLength(8);
    expect(log.lines).toContainEqual(
      'error plugin throws (throws) failed to load: libfoo.so: cannot open shared object file',
    );
    expect(
      registry
        .list()
        .filter((d) => d.source?.startsWith('plugin:'))
        .map((d) => d.type),
    ).toEqual(['good.Shout']);
  });

  test('a pack whose engine range excludes this version is refused with a message', () => {
    const root = tempDir();
    writePack(
      path.join(root, 'future'),
      { name: 'ddit-pack-future', main: 'i.js', ddit: { engine: '>=9.0.0' } },
      {
        'i.js': "throw new Error('must not be imported');",
      },
    );
    writePack(
      path.join(root, 'vague'),
      { name: 'ddit-pack-vague', main: 'i.js', ddit: { engine: 'soon' } },
      {
        'i.js': shoutModule(),
      },
    );
    writePack(
      path.join(root, 'silent'),
      { name: 'ddit-pack-silent', main: 'i.js', ddit: {} },
      {
        'i.js': shoutModule(),
      },
    );
    const config = writeConfig(root, [{ path: 'future' }, { path: 'vague' }, { path: 'silent' }]);
    const registry = builtins();
    const reports = loadPlugins(registry, { config, log: silent });
    expect(reports.map((r) => r.status)).toEqual(['failed', 'failed', 'failed']);
    expect(reports[0].error).toBe(
      'requires ddit-studio >=9.0.0 but this is 0.1.0; update the pack or ddit-studio',
    );
    expect(reports[0].engine).toBe('>=9.0.0');
    expect(reports[1].error).toBe('"ddit.engine" is not a semver range: "soon"');
    expect(reports[2].error).toContain('"ddit.engine" is missing');
    expect(registry.has('vague.Shout')).toBe(false);
  });

  test('duplicate node types and namespaces are reported; nothing is overwritten; a pack loads whole or not at all', () => {
    const root = tempDir();
    const twice = `${shoutModule('Shout')}\nexports.nodes.push(...require('./more').nodes);\n`;
    writePack(
      path.join(root, 'dup'),
      { name: 'ddit-pack-dup', main: 'index.js', ddit: { engine: '^0.1.0' } },
      {
        'index.js': twice,
        'more.js': shoutModule('Shout', '?'),
      },
    );
    writePack(
      path.join(root, 'clash'),
      { name: 'ddit-pack-clash', main: 'index.js', ddit: { engine: '^0.1.0' } },
      {
        'index.js': shoutModule('Shout'),
      },
    );
    writePack(
      path.join(root, 'a', 'twin'),
      { name: 'ddit-pack-twin', main: 'i.js', ddit: { engine: '^0.1.0' } },
      {
        'i.js': shoutModule('Shout', ' (a)'),
      },
    );
    writePack(
      path.join(root, 'b', 'twin'),
      { name: 'twin', main: 'i.js', ddit: { engine: '^0.1.0' } },
      {
        'i.js': shoutModule('Shout', ' (b)'),
      },
    );
    const registry = builtins();
    const mine = defineNode({
      type: 'clash.Shout',
      category: 'test',
      description: 'registered by the host before plugins',
      inputs: {},
      outputs: {},
      run: () => ({}),
    });
    registry.register(mine, 'test');

    const config = writeConfig(root, [
      { path: 'dup' },
      { path: 'clash' },
      { path: 'a/twin' },
      { path: 'b/twin' },
    ]);
    const reports = loadPlugins(registry, { config, log: silent });
    expect(reports.map((r) => r.status)).toEqual(['failed', 'failed', 'loaded', 'failed']);
    expect(reports[0].error).toBe("Duplicate node type 'dup.Shout': defined by plugin:dup and by plugin:dup");
    expect(registry.has('dup.Shout')).toBe(false);
    expect(reports[1].error).toBe("Duplicate node type 'clash.Shout': defined by test and by plugin:clash");
    expect(registry.get('clash.Shout')?.description).toBe('registered by the host before plugins');
    expect(reports[3].error).toBe(
      'namespace \'twin\' is already taken by a/twin; give this entry another "name" in plugins.json to load both',
    );

    // The documented way out: rename one of them in plugins.json.
    const renamed = builtins();
    const config2 = writeConfig(root, [{ path: 'a/twin' }, { path: 'b/twin', name: 'twin_b' }]);
    const ok = loadPlugins(renamed, { config: config2, log: silent });
    expect(ok.map((r) => [r.name, r.status])).toEqual([
      ['twin', 'loaded'],
      ['twin_b', 'loaded'],
    ]);
    expect(renamed.has('twin_b.Shout')).toBe(true);
    // Loading the same plugins.json into the same registry again refuses rather than doubling up.
    const again = loadPlugins(renamed, { config: config2, log: silent });
    expect(again.map((r) => r.status)).toEqual(['failed', 'failed']);
    expect(again[0].error).toContain("namespace 'twin' is already taken by a pack loaded earlier");
  });

  test('disabled entries are reported and not imported, even when missing or broken', () => {
    const root = tempDir();
    writePack(
      path.join(root, 'off'),
      { name: 'ddit-pack-off', main: 'i.js', ddit: { engine: '^0.1.0' } },
      {
        'i.js': "throw new Error('must not be imported');",
      },
    );
    const config = writeConfig(root, [
      { path: 'off', enabled: false },
      { package: 'ddit-pack-gone', enabled: false },
    ]);
    const reports = loadPlugins(builtins(), { config, log: silent });
    expect(reports.map((r) => [r.name, r.status, r.enabled, r.error])).toEqual([
      ['off', 'disabled', false, undefined],
      ['ddit-pack-gone', 'disabled', false, undefined],
    ]);
  });

  test('plugins.json itself: missing means no packs, malformed is one failed report', () => {
    const root = tempDir();
    expect(loadPlugins(builtins(), { config: path.join(root, 'plugins.json'), log: silent })).toEqual([]);
    fs.writeFileSync(path.join(root, 'plugins.json'), '{"plugins": [ {"path": "x"}, ]}');
    const log = recordingLog();
    const [report, ...rest] = loadPlugins(builtins(), { config: path.join(root, 'plugins.json'), log });
    expect(rest).toEqual([]);
    expect(report).toMatchObject({ source: 'config', status: 'failed' });
    expect(report.error).toContain('is not valid JSON');
    expect(log.lines[0]).toMatch(/^error plugins: .*no community packs loaded$/);
    fs.writeFileSync(path.join(root, 'plugins.json'), '[]');
    expect(
      loadPlugins(builtins(), { config: path.join(root, 'plugins.json'), log: silent })[0].error,
    ).toContain('expected {"plugins": [ … ]}');
  });

  test('socket types: declared types are reported, clashes and undeclared types are warned about', () => {
    const root = tempDir();
    const usesType = (type: string): string => `
const { defineNode } = require('ddit-studio/plugin-api');
exports.nodes = [defineNode({ type: 'Make', category: 't', description: '', inputs: {},
  outputs: { out: { type: ${JSON.stringify(type)} } }, run: () => ({ out: 1 }) })];`;
    const pack = (name: string, socketTypes: object, type: string): string =>
      writePack(
        path.join(root, name),
        { name, main: 'i.js', ddit: { engine: '^0.1.0', socketTypes } },
        {
          'i.js': usesType(type),
        },
      );
    pack('swatch', { SWATCH: { color: '#d9a441', description: 'colours' } }, 'SWATCH');
    pack('swatch2', { SWATCH: { color: '#000000' }, IMAGE: {} }, 'SWATCH');
    pack('typo', {}, 'SWACTH');
    pack('badtype', { lower: {} }, 'SWATCH');
    const config = writeConfig(root, [
      { path: 'swatch' },
      { path: 'swatch2' },
      { path: 'typo' },
      { path: 'badtype' },
    ]);
    const reports = loadPlugins(builtins(), { config, log: silent });
    expect(reports.map((r) => r.status)).toEqual(['loaded', 'loaded', 'loaded', 'failed']);
    expect(reports[0].socketTypes).toEqual({ SWATCH: { color: '#d9a441', description: 'colours' } });
    expect(reports[1].socketTypes).toEqual({});
    expect(reports[1].warnings).toEqual([
      "socket type SWATCH is already declared by pack 'swatch'; keeping that declaration",
      "socket type IMAGE is built in; the pack's declaration is ignored",
    ]);
    expect(reports[2].warnings).toEqual([
      'socket type SWACTH is used but neither built in nor declared in any pack\'s "ddit.socketTypes"',
    ]);
    expect(reports[3].error).toBe('socket type "lower" must be upper case: letters, digits and \'_\'');
    expect(pluginSocketTypes(reports)).toEqual({
      SWATCH: { color: '#d9a441', description: 'colours', pack: 'swatch' },
    });
  });

  test('editor extensions are listed as URLs and served only from a loaded pack’s web folder', () => {
    const root = tempDir();
    fs.writeFileSync(path.join(root, 'secret.txt'), 'not for the browser');
    writePack(
      path.join(root, 'fx'),
      { name: 'ddit-pack-fx', main: 'i.js', ddit: { engine: '^0.1.0' } },
      {
        'i.js': shoutModule(),
        'web/b.js': '/* b */',
        'web/a.js': '/* a */',
        'web/lib/util.js': '/* helper, imported by a.js, not an entry */',
        'web/style.css': 'p {}',
      },
    );
    fs.symlinkSync(path.join(root, 'secret.txt'), path.join(root, 'fx', 'web', 'leak.js'));
    writePack(
      path.join(root, 'explicit'),
      { name: 'explicit', main: 'i.js', ddit: { engine: '^0.1.0', web: 'ui', extensions: ['ui/main.js'] } },
      { 'i.js': shoutModule(), 'ui/main.js': '/* main */', 'ui/other.js': '' },
    );
    writePack(
      path.join(root, 'outside'),
      { name: 'outside', main: 'i.js', ddit: { engine: '^0.1.0', extensions: ['i.js'] } },
      { 'i.js': shoutModule() },
    );
    writePack(
      path.join(root, 'broken'),
      { name: 'broken', main: 'i.js', ddit: { engine: '^0.1.0' } },
      {
        'i.js': 'throw new Error("x")',
        'web/ext.js': '',
      },
    );
    const config = writeConfig(root, [
      { path: 'fx' },
      { path: 'explicit' },
      { path: 'outside' },
      { path: 'broken' },
    ]);
    const reports = loadPlugins(builtins(), { config, log: silent });
    expect(reports.map((r) => r.status)).toEqual(['loaded', 'loaded', 'failed', 'failed']);
    expect(reports[2].error).toBe('extension i.js is not inside the web folder "web"');
    // Every top-level .js of web/ by default (the symlink included: it is listed, but never served).
    expect(extensionScripts(reports)).toEqual([
      '/extensions/fx/a.js',
      '/extensions/fx/b.js',
      '/extensions/fx/leak.js',
      '/extensions/explicit/main.js',
    ]);
    const web = path.join(root, 'fx', 'web');
    expect(resolveExtensionFile(reports, 'fx', 'a.js')).toBe(path.join(web, 'a.js'));
    expect(resolveExtensionFile(reports, 'fx', 'lib/util.js')).toBe(path.join(web, 'lib', 'util.js'));
    expect(resolveExtensionFile(reports, 'fx', 'style.css')).toBe(path.join(web, 'style.css'));
    expect(resolveExtensionFile(reports, 'explicit', 'other.js')).toBe(
      path.join(root, 'explicit', 'ui', 'other.js'),
    );
    for (const bad of [
      '../package.json',
      'lib/../../i.js',
      '/etc/passwd',
      'missing.js',
      'lib',
      'leak.js',
      'a.js\0',
    ]) {
      expect(resolveExtensionFile(reports, 'fx', bad)).toBeUndefined();
    }
    expect(resolveExtensionFile(reports, 'broken', 'ext.js')).toBeUndefined();
    expect(resolveExtensionFile(reports, 'nope', 'a.js')).toBeUndefined();
    expect(publicReport(reports[0])).not.toHaveProperty('dir');
    expect(JSON.parse(JSON.stringify(publicReport(reports[0])))).toEqual(publicReport(reports[0]));
  });

  test('createEngine loads plugins on request only', async () => {
    const root = tempDir();
    writePack(
      path.join(root, 'node_modules', 'ddit-pack-shout'),
      { name: 'ddit-pack-shout', main: 'i.js', ddit: { engine: '^0.1.0' } },
      {
        'i.js': shoutModule(),
      },
    );
    const config = writeConfig(root, [{ package: 'ddit-pack-shout' }]);
    const engine = createEngine({ plugins: { config }, log: silent, folders: { output: root } });
    expect(engine.plugins.map((r) => [r.name, r.status])).toEqual([['shout', 'loaded']]);
    const r = await engine.execute({
      '1': { class_type: 'shout.Shout', inputs: { text: 'plugins' } },
      '2': { class_type: 'ShowText', inputs: { text: ['1', 0] } },
    });
    expect(r.outputs['2'].text).toEqual(['PLUGINS!']);
    const plain = createEngine({ log: silent });
    expect(plain.plugins).toEqual([]);
    expect(plain.registry.has('shout.Shout')).toBe(false);
  });

  test('an in-memory plugins.json resolves paths from root (how a pack tests itself)', () => {
    const packDir = writePack(
      tempDir(),
      { name: 'ddit-pack-self', main: 'i.js', ddit: { engine: '^0.1.0' } },
      {
        'i.js': shoutModule(),
      },
    );
    const [report] = loadPlugins(builtins(), {
      root: packDir,
      config: { plugins: [{ path: '.' }] },
      log: silent,
    });
    expect(report).toMatchObject({ name: 'self', status: 'loaded', dir: packDir, nodes: ['self.Shout'] });
  });

  test('DDIT_PLUGINS names another plugins.json or turns packs off', () => {
    const root = tempDir();
    writePack(
      path.join(root, 'p'),
      { name: 'ddit-pack-p', main: 'i.js', ddit: { engine: '^0.1.0' } },
      {
        'i.js': shoutModule(),
      },
    );
    const config = writeConfig(root, [{ path: 'p' }]);
    const saved = process.env.DDIT_PLUGINS;
    try {
      process.env.DDIT_PLUGINS = config;
      expect(loadPlugins(builtins(), { log: silent }).map((r) => r.nodes)).toEqual([['p.Shout']]);
      process.env.DDIT_PLUGINS = 'off';
      expect(loadPlugins(builtins(), { log: silent })).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env.DDIT_PLUGINS;
      else process.env.DDIT_PLUGINS = saved;
    }
  });
});

describe('derivePackName', () => {
  test.each([
    ['ddit-pack-imagefx', 'imagefx'],
    ['@acme/ddit-nodes-face-fix', 'face_fix'],
    ['ddit-plugin-x', 'x'],
    ['ddit-upscale', 'upscale'],
    ['cool.nodes', 'cool_nodes'],
    ['9lives', '_9lives'],
    ['ddit-pack-', 'pack'],
  ])('%s → %s', (pkg, name) => {
    expect(derivePackName(pkg)).toBe(name);
  });
});
