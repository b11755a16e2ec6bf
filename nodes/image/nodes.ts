/** LoadImage / SaveImage / PreviewImage: PNG files in and out, with the workflow embedded as ComfyUI does. */
import * as fs from 'fs';
import * as path from 'path';
import { defineNode } from '../../server/engine/define-node';
import type { Folders, ImageRef, NodeContext } from '../../server/engine/types';
import { tf } from '../../server/runtime/tf';
import { defaultFolders, fingerprintInside, listFiles, resolveInside } from './files';
import { asciiJson, decodePng, encodeRgbPng } from './png';

const IMAGE_EXTS = ['.png'];

function expectImage(name: string, v: unknown): tf.Tensor4D {
  const t = v as tf.Tensor4D;
  if (!(t instanceof tf.Tensor) || t.rank !== 4 || t.shape[3] !== 3) {
    const got = t instanceof tf.Tensor ? `[${t.shape}]` : typeof v;
    throw new Error(`input '${name}': expected an IMAGE [B, H, W, 3], got ${got}`);
  }
  return t;
}

/** The PNG text chunks ComfyUI writes: `prompt`, then each extra_pnginfo entry (`workflow`, …). */
export function pngInfo(ctx: Pick<NodeContext, 'prompt' | 'extra'>): Record<string, string> {
  const texts: Record<string, string> = {};
  if (ctx.prompt) texts.prompt = asciiJson(ctx.prompt);
  const extra = (ctx.extra?.extra_pnginfo ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(extra)) if (/^[\x20-\x7e]{1,79}$/.test(k)) texts[k] = asciiJson(v);
  return texts;
}

/** Writes each image of a batch as `<prefix>_<counter>_.png` (counter after the highest existing one). */
export async function writeImages(
  images: tf.Tensor4D,
  dir: string,
  prefix: string,
  texts: Record<string, string>,
): Promise<string[]> {
  if (/[\\/]|\.\./.test(prefix) || prefix.trim() === '') {
    throw new Error("input 'filename_prefix': must be a plain, non-empty file name");
  }
  fs.mkdirSync(dir, { recursive: true });
  const re = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}_(\\d+)_\\.png$`);
  let counter = 0;
  for (const f of fs.readdirSync(dir)) {
    const m = re.exec(f);
    if (m) counter = Math.max(counter, Number(m[1]));
  }
  const [B, H, W] = images.shape;
  const data = await images.data();
  const names: string[] = [];
  for (let b = 0; b < B; b++) {
    counter++;
    const name = `${prefix}_${String(counter).padStart(5, '0')}_.png`;
    const px = (data as Float32Array).subarray(b * H * W * 3, (b + 1) * H * W * 3);
    fs.writeFileSync(path.join(dir, name), encodeRgbPng(px, W, H, texts));
    names.push(name);
  }
  return names;
}

export const LoadImage = defineNode({
  type: 'LoadImage',
  displayName: 'Load Image',
  category: 'image',
  description:
    'Loads a PNG from the input folder as an IMAGE in [0,1]; its alpha becomes a MASK (1 = transparent), as in ComfyUI.',
  inputs: {
    image: {
      type: 'COMBO',
      choices: (folders?: Folders) => listFiles((folders ?? defaultFolders()).input, IMAGE_EXTS),
      upload: 'image',
    },
  },
  outputs: { image: { type: 'IMAGE' }, mask: { type: 'MASK' } },
  fingerprint: ({ image }, folders) => fingerprintInside(folders.input, image),
  run({ image }, ctx) {
    const file = resolveInside(ctx.folders.input, image, 'image');
    const { width, height, rgba } = decodePng(fs.readFileSync(file));
    const rgb = new Float32Array(width * height * 3);
    const mask = new Float32Array(width * height);
    for (let i = 0; i < width * height; i++) {
      rgb[i * 3] = rgba[i * 4];
      rgb[i * 3 + 1] = rgba[i * 4 + 1];
      rgb[i * 3 + 2] = rgba[i * 4 + 2];
      mask[i] = 1 - rgba[i * 4 + 3];
    }
    return {
      image: tf.tensor4d(rgb, [1, height, width, 3]),
      mask: tf.tensor3d(mask, [1, height, width]),
    };
  },
});

export const SaveImage = defineNode({
  type: 'SaveImage',
  displayName: 'Save Image',
  category: 'image',
  description:
    'Saves images as PNG in the output folder, with the prompt and workflow embedded (ComfyUI-compatible).',
  output: true,
  inputs: {
    images: { type: 'IMAGE' },
    filename_prefix: { type: 'STRING', default: 'ddit' },
  },
  outputs: {},
  async run({ images, filename_prefix }, ctx) {
    const img = expectImage('images', images);
    const names = await writeImages(img, ctx.folders.output, filename_prefix, pngInfo(ctx));
    const refs: ImageRef[] = names.map((filename) => ({ filename, subfolder: '', type: 'output' }));
    ctx.ui({ images: refs });
    return {};
  },
});

export const PreviewImage = defineNode({
  type: 'PreviewImage',
  displayName: 'Preview Image',
  category: 'image',
  description: 'Shows images on the node (written to the temp folder, with the workflow embedded).',
  output: true,
  inputs: { images: { type: 'IMAGE' } },
  outputs: {},
  async run({ images }, ctx) {
    const img = expectImage('images', images);
    const prefix = `preview_${ctx.promptId.replace(/[^A-Za-z0-9]/g, '').slice(0, 12) || 'x'}_${ctx.nodeId.replace(/[^A-Za-z0-9]/g, '')}`;
    const names = await writeImages(img, ctx.folders.temp, prefix, pngInfo(ctx));
    ctx.ui({ images: names.map((filename) => ({ filename, subfolder: '', type: 'temp' as const })) });
    return {};
  },
});
