import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vm from 'vm';
import { Engine, NodeRegistry, loadBuiltinPacks, toObjectInfo } from '../../../server/engine';
import { loadPlugins, resolveExtensionFile, type PluginReport } from '../../../server/plugins';

const root = path.resolve(__dirname, '..', '..', '..');
const silent = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };

describe('the imagefx example pack', () => {
  const registry = new NodeRegistry();
  loadBuiltinPacks(registry);
  let reports: PluginReport[];

  beforeAll(() => {
    reports = loadPlugins(registry, { config: path.join(root, 'plugins.json'), log: silent });
  });

  test('is enabled in the project plugins.json and loads with its socket type and editor extension', () => {
    const report = reports.find((r) => r.package === 'ddit-pack-imagefx');
    expect(report).toMatchObject({
      name: 'imagefx',
      status: 'loaded',
      warnings: [],
      extensions: ['/extensions/imagefx/palette.js'],
      socketTypes: { PALETTE: { color: '#d9a441' } },
    });
    expect(report?.nodes).toEqual([
      'imagefx.TestPattern',
      'imagefx.Sharpen',
      'imagefx.AdjustColor',
      'imagefx.ImageGrid',
      'imagefx.ExtractPalette',
      'imagefx.ApplyPalette',
      'imagefx.PaletteToImage',
      'imagefx.ShowPalette',
    ]);
    expect(resolveExtensionFile(reports, 'imagefx', 'palette.js')).toBe(
      path.join(root, 'plugins', 'imagefx', 'web', 'palette.js'),
    );
    const info = toObjectInfo(registry.get('imagefx.ShowPalette')!);
    expect(info).toMatchObject({
      display_name: 'ShowPalette',
      python_module: 'plugin:imagefx',
      output_node: true,
    });
    expect(info.input.required.palette).toEqual(['PALETTE', {}]);
  });

  test('its nodes run as a workflow: samples → sharpen → grid → palette → recolour', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-imagefx-'));
    const engine = new Engine({ registry, folders: { output: out, input: out, temp: out }, log: silent });
    const prompt = {
      '1': {
        class_type: 'imagefx.TestPattern',
        inputs: { pattern: 'gradient', width: 24, height: 16, batch: 4 },
      },
      '2': { class_type: 'imagefx.Sharpen', inputs: { image: ['1', 0], amount: 0.5, radius: 1 } },
      '3': {
        class_type: 'imagefx.ImageGrid',
        inputs: { images: ['2', 0], columns: 2, gap: 2, background: 0 },
      },
      '4': { class_type: 'imagefx.ExtractPalette', inputs: { image: ['3', 0], colors: 4, iterations: 6 } },
      '5': { class_type: 'imagefx.ShowPalette', inputs: { palette: ['4', 0] } },
      '6': {
        class_type: 'imagefx.ApplyPalette',
        inputs: { image: ['3', 0], palette: ['4', 0], strength: 1 },
      },
      '7': { class_type: 'imagefx.ExtractPalette', inputs: { image: ['6', 0], colors: 8, iterations: 6 } },
      '8': { class_type: 'imagefx.ShowPalette', inputs: { palette: ['7', 0] } },
    };
    const result = await engine.execute(prompt);
    expect(result.status).toBe('success');
    const first = result.outputs['5'].palette as string[];
    expect(first).toHaveLength(4);
    // A recoloured image holds only palette colours, so extracting again finds them (and no more).
    expect([...(result.outputs['8'].palette as string[])].sort()).toEqual([...first].sort());

    // A PALETTE where an IMAGE belongs is caught before anything runs, naming the node and the input.
    const wrong = engine.validate({
      ...prompt,
      '2': { ...prompt['2'], inputs: { ...prompt['2'].inputs, image: ['4', 0] } },
    });
    expect(wrong.ok).toBe(false);
    expect(JSON.stringify(wrong.node_errors['2'])).toContain('return_type_mismatch');
  });

  test('the shipped example workflow runs', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-imagefx-'));
    const engine = new Engine({ registry, folders: { output: out, input: out, temp: out }, log: silent });
    const file = path.join(root, 'workflows', 'examples', 'imagefx-palette.json');
    const result = await engine.execute(JSON.parse(fs.readFileSync(file, 'utf8')));
    expect(result.status).toBe('success');
    expect(result.outputs['5'].palette).toHaveLength(6);
  });

  test('its editor extension draws the palette swatches through the documented hook', () => {
    const registered: Record<string, (...a: unknown[]) => void>[] = [];
    const window = { dditEditor: { registerExtension: (ext: never) => registered.push(ext) } };
    const script = fs.readFileSync(path.join(root, 'plugins', 'imagefx', 'web', 'palette.js'), 'utf8');
    vm.runInNewContext(script, { window, console });
    expect(registered).toHaveLength(1);
    const ext = registered[0];
    expect(ext.name).toBe('imagefx.palette');

    const drawn: string[] = [];
    const canvas = {
      fillStyle: '',
      strokeStyle: '',
      fillRect(x: number, y: number, w: number, h: number) {
        drawn.push(`${this.fillStyle} ${x},${y} ${w}x${h}`);
      },
      strokeRect() {},
    };
    let dirty = false;
    const node: Record<string, unknown> = {
      type: 'imagefx.ShowPalette',
      size: [216, 60],
      onDrawForeground: () => drawn.push('original'),
      computeSize: () => [216, 50],
      setDirtyCanvas: () => (dirty = true),
    };
    const other: Record<string, unknown> = { type: 'imagefx.Sharpen', size: [100, 40] };
    ext.nodeCreated(node);
    ext.nodeCreated(other);
    expect(other.onDrawForeground).toBeUndefined();
    ext.onExecuted(node, { palette: ['#cc3333', '#3366cc'], weights: [0.75, 0.25] });
    expect(dirty).toBe(true);
    expect(node.size).toEqual([216, 94]);
    (node.onDrawForeground as (ctx: unknown) => void).call(node, canvas);
    expect(drawn).toEqual(['original', '#cc3333 8,50 150x36', '#3366cc 158,50 50x36']);
  });
});
