import * as fs from 'fs';
import * as path from 'path';
import type { Command } from 'commander';
import { applyOverrides, createEngine, formatValidation, parseSetFlags, toApiPrompt } from '../engine';
import type { RunResult } from '../engine';
import { ProgressView } from './progress-view';

interface RunFlags {
  set: string[];
  out?: string;
  loop?: string;
  json?: boolean;
  quiet?: boolean;
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read workflow ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${file} is not valid JSON: ${(err as Error).message}`);
  }
}

function printOutputs(result: RunResult, outDir: string): void {
  for (const [id, ui] of Object.entries(result.outputs)) {
    for (const img of ui.images ?? []) {
      const base = img.type === 'output' ? outDir : img.type;
      console.log(`#${id} image: ${path.join(base, img.subfolder, img.filename)}`);
    }
    for (const t of ui.text ?? []) console.log(`#${id} text: ${t}`);
    // Nodes report files either as paths or as ComfyUI-style {filename, subfolder} under the output folder.
    const files = (ui as { files?: Array<string | { filename: string; subfolder?: string }> }).files ?? [];
    for (const f of files) {
      const where = typeof f === 'string' ? f : path.join(outDir, f.subfolder ?? '', f.filename);
      console.log(`#${id} file: ${where}`);
    }
  }
}

/**
 * Tensor nodes need the accelerated backend chosen before the first tensor exists; otherwise tfjs
 * silently falls back to its pure-JS CPU kernels (tens of times slower). Required here so that the
 * CLI's other commands never load tfjs.
 */
async function initTensorRuntime(): Promise<string | null> {
  const rt = require('../runtime') as typeof import('../runtime');
  const info = await rt.initRuntime();
  return info.device;
}

export function register(program: Command): void {
  program
    .command('run')
    .description('run a workflow (API or editor format) with a progress bar per node')
    .argument('<workflow>', 'workflow JSON file')
    .option(
      '-s, --set <node.input=value>',
      'override an input (node id or title); repeatable',
      (v, acc: string[]) => [...acc, v],
      [],
    )
    .option('-o, --out <dir>', 'output folder', 'output')
    .option('--loop <n>', 'execute the graph n times (training runs)')
    .option('--json', 'print the run result as JSON')
    .option('-q, --quiet', 'no progress output')
    .action(async (file: string, flags: RunFlags) => {
      const outDir = path.resolve(flags.out ?? 'output');
      const engine = createEngine({ folders: { output: outDir }, plugins: true });
      const doc = readJson(file);
      let prompt = toApiPrompt(doc, engine.registry);
      prompt = applyOverrides(prompt, parseSetFlags(flags.set));
      const view = flags.quiet || flags.json ? null : new ProgressView(prompt);
      const device = await initTensorRuntime();
      if (view && device) process.stderr.write(`device: ${device}\n`);
      const controller = new AbortController();
      // SIGTERM too: service managers and containers stop with it, and a training run must save first.
      const onSigint = (): void => {
        process.stderr.write('\ninterrupting…\n');
        controller.abort();
      };
      process.once('SIGINT', onSigint);
      process.once('SIGTERM', onSigint);
      // A saved {prompt, extra_data} file carries its own extra data (a training workflow's loop).
      const fileExtra = (doc as { extra_data?: unknown } | null)?.extra_data;
      const extra: Record<string, unknown> =
        fileExtra && typeof fileExtra === 'object' ? { ...(fileExtra as Record<string, unknown>) } : {};
      if (flags.loop) extra.loop = { iterations: Number(flags.loop) };
      const result = await engine.execute(prompt, {
        extra,
        signal: controller.signal,
        onEvent: (e) => view?.handle(e),
      });
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigint);
      if (flags.json) {
        console.log(
          JSON.stringify(
            { ...result, validation: result.validation?.ok === false ? result.validation : undefined },
            null,
            2,
          ),
        );
      } else if (result.status === 'success') {
        printOutputs(result, outDir);
      } else if (result.validation && !result.validation.ok) {
        console.error(`ddit: the workflow is invalid\n${formatValidation(result.validation)}`);
      } else {
        console.error(
          `ddit: ${result.status === 'interrupted' ? 'interrupted' : 'failed'}: ${result.error?.message}`,
        );
      }
      // Exit explicitly: tensor backends may keep worker threads alive.
      process.exit(result.status === 'success' ? 0 : result.status === 'interrupted' ? 130 : 1);
    });
}
