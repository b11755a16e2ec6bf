/**
 * `ddit eval --images DIR`: every text-to-image sample as a PNG named after its item and verdict, the
 * unconditional control's under control/, and an index.html that lays them out with their prompts and what the
 * judge found, so a score can be checked by eye.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { T2IItemResult } from '../../nodes/eval/run-eval';
import type { RgbImage } from '../../nodes/data/shapes/render';
import { encodeRgbPng } from '../../nodes/image/png';

export type T2IRun = 'main' | 'control';

interface Entry {
  file: string;
  result: T2IItemResult;
}

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** A file name from an item id: letters, digits, '-', '_' and '.' kept, the rest replaced. */
const safeName = (id: string): string => id.replace(/[^A-Za-z0-9._-]/g, '_');

export class T2IImageWriter {
  private readonly entries: Record<T2IRun, Entry[]> = { main: [], control: [] };

  constructor(readonly dir: string) {
    fs.mkdirSync(path.join(dir, 'control'), { recursive: true });
  }

  add(result: T2IItemResult, image: RgbImage, run: T2IRun): void {
    const file = path.join(
      run === 'main' ? '' : 'control',
      `${safeName(result.id)}-${result.pass ? 'pass' : 'fail'}.png`,
    );
    fs.writeFileSync(path.join(this.dir, file), encodeRgbPng(image.data, image.width, image.height));
    this.entries[run].push({ file, result });
  }

  /** Writes index.html; returns its path. */
  finish(title: string): string {
    const cell = ({ file, result: r }: Entry): string => {
      const found =
        r.found.map((o) => `${o.size} ${o.color} ${o.shape} (${o.x}, ${o.y})`).join('<br>') || 'nothing';
      return (
        `<figure class="${r.pass ? 'pass' : 'fail'}"><img src="${escapeHtml(file.split(path.sep).join('/'))}" ` +
        `alt="${escapeHtml(r.prompt)}"><figcaption><b>${escapeHtml(r.prompt)}</b><br>${r.category}, ` +
        `${r.pass ? 'pass' : 'fail'}<br><small>${found}</small></figcaption></figure>`
      );
    };
    const section = (name: string, es: Entry[]): string =>
      es.length
        ? `<h2>${name} (${es.filter((e) => e.result.pass).length} / ${es.length} pass)</h2>\n<div>${es.map(cell).join('\n')}</div>`
        : '';
    const html = [
      '<!doctype html><meta charset="utf-8">',
      `<title>${escapeHtml(title)}</title>`,
      '<style>body{font:13px sans-serif;background:#222;color:#ddd}div{display:flex;flex-wrap:wrap;gap:8px}',
      'figure{margin:0;width:140px}img{width:128px;height:128px;image-rendering:pixelated}',
      '.pass img{outline:3px solid #3a3}.fail img{outline:3px solid #a33}</style>',
      `<h1>${escapeHtml(title)}</h1>`,
      section('text-to-image', this.entries.main),
      section('control: empty prompt (= CFG 0)', this.entries.control),
    ].join('\n');
    const file = path.join(this.dir, 'index.html');
    fs.writeFileSync(file, `${html}\n`);
    return file;
  }
}
