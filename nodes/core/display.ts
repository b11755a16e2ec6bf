import * as fs from 'fs';
import * as path from 'path';
import { defineNode } from '../../server/engine/define-node';

export const ShowText = defineNode({
  type: 'ShowText',
  displayName: 'Show Text',
  category: 'utils/text',
  description: 'Shows text on the node (captions, answers, numbers) and passes it on.',
  output: true,
  inputs: { text: { type: 'STRING', forceInput: true } },
  outputs: { text: { type: 'STRING' } },
  run: ({ text }, ctx) => {
    ctx.ui({ text: [text] });
    return { text };
  },
});

export const SaveText = defineNode({
  type: 'SaveText',
  displayName: 'Save Text',
  category: 'utils/text',
  description: 'Writes text to a numbered .txt file in the output folder.',
  output: true,
  inputs: {
    text: { type: 'STRING', forceInput: true },
    filename_prefix: { type: 'STRING', default: 'ddit' },
  },
  outputs: {},
  run: ({ text, filename_prefix }, ctx) => {
    if (/[\\/]|\.\./.test(filename_prefix))
      throw new Error("input 'filename_prefix': must be a plain file name");
    fs.mkdirSync(ctx.folders.output, { recursive: true });
    let n = 1;
    const taken = new Set(fs.readdirSync(ctx.folders.output));
    while (taken.has(`${filename_prefix}_${String(n).padStart(5, '0')}_.txt`)) n++;
    const filename = `${filename_prefix}_${String(n).padStart(5, '0')}_.txt`;
    fs.writeFileSync(path.join(ctx.folders.output, filename), text);
    ctx.ui({ text: [text], files: [{ filename, subfolder: '', type: 'output' }] });
    return {};
  },
});

export const Note = defineNode({
  type: 'Note',
  category: 'utils',
  description: 'A comment on the canvas; never executed.',
  inputs: { text: { type: 'STRING', default: '', multiline: true } },
  outputs: {},
  run: () => ({}),
});
