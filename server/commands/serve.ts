import type { Command } from 'commander';
import type { ServerConfig } from '../api/config';

interface ServeFlags {
  port: string;
  listen?: string | boolean;
  token?: string;
  dataDir?: string;
  outputDir?: string;
  inputDir?: string;
  modelsDir?: string;
  workflowsDir?: string;
  workers: string;
  webhookHosts?: string;
  maxUploadSize?: string;
  interruptGrace?: string;
  corsOrigin: string[];
}

function int(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`--${name} must be an integer, got '${v}'`);
  return n;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description(
      'run the editor and the ComfyUI-compatible HTTP + WebSocket API (default http://127.0.0.1:8188)',
    )
    .option('-p, --port <port>', 'port (0: any free port)', '8188')
    .option(
      '--listen [host]',
      'address to bind (without a value: 0.0.0.0); non-loopback needs --token',
      undefined,
    )
    .option('--token <token>', 'API token every request must carry (default: $DDIT_API_TOKEN)')
    .option('--data-dir <dir>', 'job database and temp files', 'data')
    .option('--output-dir <dir>', 'where workflows write outputs', 'output')
    .option('--input-dir <dir>', 'uploaded inputs', 'input')
    .option('--models-dir <dir>', 'model weights (default: the bundled models/)')
    .option('--workflows-dir <dir>', 'saved-workflow library (default: the bundled workflows/)')
    .option('--workers <n>', 'worker processes (one per device)', '1')
    .option(
      '--webhook-hosts <hosts>',
      'comma list of hosts completion webhooks may call (default: $DDIT_WEBHOOK_HOSTS)',
    )
    .option('--max-upload-size <MB>', 'largest upload in megabytes', '100')
    .option(
      '--interrupt-grace <seconds>',
      'time a worker gets to stop after an interrupt before it is killed',
      '5',
    )
    .option(
      '--cors-origin <origin>',
      'a browser origin allowed to call the API cross-site (repeatable; * for any)',
      (v, acc: string[]) => [...acc, v],
      [],
    )
    .action(async (flags: ServeFlags) => {
      const { startServer } = require('../api/server') as typeof import('../api/server');
      const opts: Partial<ServerConfig> = {
        port: int(flags.port, 'port'),
        host:
          flags.listen === undefined ? '127.0.0.1' : flags.listen === true ? '0.0.0.0' : String(flags.listen),
        token: flags.token,
        dataDir: flags.dataDir,
        outputDir: flags.outputDir,
        inputDir: flags.inputDir,
        modelsDir: flags.modelsDir,
        workflowsDir: flags.workflowsDir,
        workers: int(flags.workers, 'workers'),
        webhookHosts: flags.webhookHosts
          ?.split(',')
          .map((h) => h.trim())
          .filter(Boolean),
        maxUploadBytes: Math.round(Number(flags.maxUploadSize) * 1024 * 1024),
        interruptGraceMs: Math.round(Number(flags.interruptGrace) * 1000),
        corsOrigins: flags.corsOrigin,
      };
      if (!(opts.maxUploadBytes! > 0)) throw new Error('--max-upload-size must be a positive number');
      if (!(opts.interruptGraceMs! >= 0)) throw new Error('--interrupt-grace must be a number of seconds');
      // The editor bundle is built at install; rebuild it here when its sources changed since.
      try {
        const { buildWeb } = require('../../scripts/build-web.js') as {
          buildWeb(o: { ifStale: boolean }): Promise<unknown>;
        };
        await buildWeb({ ifStale: true });
      } catch (err) {
        console.warn(
          `the editor could not be rebuilt; serving the previous build: ${(err as Error).message}`,
        );
      }
      const server = await startServer(opts);
      console.log(
        `ddit-studio listening on ${server.url}` + (server.config.token ? ' (API token required)' : ''),
      );
      let stopping = false;
      const stop = (sig: string): void => {
        if (stopping) process.exit(1);
        stopping = true;
        console.log(`\n${sig}: stopping (pending jobs stay queued for the next start)…`);
        server.close().then(
          () => process.exit(0),
          (err: Error) => {
            console.error(err.message);
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
    });
}
