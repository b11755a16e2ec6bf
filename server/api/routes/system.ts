import * as os from 'os';
import type { Router } from 'express';
import { toObjectInfo, type ObjectInfo } from '../../engine';
import type { ApiContext } from '../context';
import { openApiDocument } from '../openapi';
import { extensionScripts, pluginSocketTypes, publicReport } from '../../plugins';

/** Devices as ComfyUI lists them, from what the workers' tensor runtime reports. */
function devices(executors: Awaited<ReturnType<ApiContext['transport']['executors']>>): unknown[] {
  const seen = new Map<string, unknown>();
  for (const e of executors) {
    const rt = (e.info?.runtime ?? null) as { backend?: string; device?: string; threads?: number } | null;
    const name = rt?.device ?? 'cpu (tensor runtime not started)';
    if (seen.has(name)) continue;
    const cpu = !rt || rt.backend !== 'tensorflow' || !/gpu|cuda/i.test(name);
    seen.set(name, {
      name,
      type: cpu ? 'cpu' : 'cuda',
      index: seen.size,
      backend: rt?.backend ?? null,
      threads: rt?.threads ?? null,
      // Tensors live in host memory on the CPU backends, as ComfyUI reports for its cpu device.
      vram_total: os.totalmem(),
      vram_free: os.freemem(),
      torch_vram_total: 0,
      torch_vram_free: 0,
    });
  }
  return [...seen.values()];
}

export function systemRoutes(r: Router, ctx: ApiContext): void {
  // Rebuilt per request: combo choices read from disk (model files) change while the server runs.
  r.get('/object_info', (_req, res) => {
    const info: Record<string, ObjectInfo> = {};
    for (const def of ctx.registry.list()) info[def.type] = toObjectInfo(def);
    res.json(info);
  });

  r.get('/object_info/:type', (req, res) => {
    const def = ctx.registry.get(req.params.type);
    res.json(def ? { [def.type]: toObjectInfo(def) } : {});
  });

  r.get('/system_stats', async (_req, res) => {
    const executors = await ctx.transport.executors();
    const runtime = executors.find((e) => e.info?.runtime)?.info?.runtime ?? null;
    res.json({
      system: {
        os: process.platform,
        arch: process.arch,
        ram_total: os.totalmem(),
        ram_free: os.freemem(),
        cpu_count: os.cpus().length,
        ddit_version: ctx.version,
        node_version: process.version,
        embedded_python: false,
        argv: process.argv.slice(1),
        uptime_s: Math.round((Date.now() - ctx.startedAt) / 1000),
      },
      devices: devices(executors),
      runtime,
      workers: executors.map((e) => ({
        index: e.index,
        pid: e.pid,
        state: e.state,
        job: e.job,
        jobs_run: e.jobsRun,
        restarts: e.restarts,
        last_exit: e.lastExit,
        node_types: (e.info?.nodeTypes as number | undefined) ?? null,
        startup_ms: e.info?.startup ?? null,
        runtime: e.info?.runtime ?? null,
        runtime_note: e.info?.runtimeError ?? null,
        memory: e.memory ?? null,
      })),
      transport: ctx.transport.name,
      queue: { pending: ctx.scheduler.pendingJobs().length, running: ctx.scheduler.runningJobs().length },
    });
  });

  r.get('/features', (_req, res) => {
    res.json(serverFeatures(ctx));
  });

  r.get('/embeddings', (_req, res) => {
    res.json([]);
  });

  r.get('/plugins', (_req, res) => {
    res.json({
      builtin: ctx.packs.builtin,
      extra: ctx.packs.extra,
      plugins: ctx.packs.plugins.map(publicReport),
      socket_types: pluginSocketTypes(ctx.packs.plugins),
      node_types: ctx.registry.list().length,
    });
  });

  r.get('/extensions', (_req, res) => {
    res.json(extensionScripts(ctx.packs.plugins));
  });

  r.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument(ctx.version));
  });
}

export function serverFeatures(ctx: ApiContext): Record<string, unknown> {
  return {
    supports_preview_metadata: true,
    max_upload_size: ctx.cfg.maxUploadBytes,
    auth: ctx.cfg.token ? 'bearer' : 'none',
    webhooks: ctx.cfg.webhookHosts.length > 0,
    job_priority: true,
  };
}
