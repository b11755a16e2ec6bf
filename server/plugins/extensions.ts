import * as fs from 'fs';
import * as path from 'path';
import type { SocketTypeInfo } from './api';
import type { PluginReport } from './loader';
import { isInside } from './manifest';

/**
 * The file to send for GET /extensions/<pack>/<file>, or undefined (404). Only loaded packs serve files, and
 * only from their web folder: '..', absolute paths and symlinks leading out of it are refused.
 * `file` is the part of the URL after /extensions/<pack>/, already URL-decoded.
 */
export function resolveExtensionFile(
  reports: readonly PluginReport[],
  pack: string,
  file: string,
): string | undefined {
  const report = reports.find((r) => r.status === 'loaded' && r.name === pack);
  if (!report?.webDir || !file || file.includes('\0') || path.isAbsolute(file)) return undefined;
  if (file.split(/[\\/]/).some((seg) => seg === '..')) return undefined;
  const candidate = path.resolve(report.webDir, file);
  if (!isInside(report.webDir, candidate)) return undefined;
  try {
    const real = fs.realpathSync(candidate);
    if (!isInside(fs.realpathSync(report.webDir), real) || !fs.statSync(real).isFile()) return undefined;
    return real;
  } catch {
    return undefined;
  }
}

/** URLs of every editor script to load, pack by pack in plugins.json order (what GET /extensions lists). */
export function extensionScripts(reports: readonly PluginReport[]): string[] {
  return reports.filter((r) => r.status === 'loaded').flatMap((r) => r.extensions);
}

/** Socket types declared by loaded packs, with the pack that owns each (the editor colours links with it). */
export function pluginSocketTypes(
  reports: readonly PluginReport[],
): Record<string, SocketTypeInfo & { pack: string }> {
  const out: Record<string, SocketTypeInfo & { pack: string }> = {};
  for (const r of reports) {
    if (r.status !== 'loaded') continue;
    for (const [name, info] of Object.entries(r.socketTypes)) out[name] = { ...info, pack: r.name };
  }
  return out;
}

/** A report as GET /plugins sends it: without host paths. */
export function publicReport(r: PluginReport): Omit<PluginReport, 'dir' | 'webDir'> {
  const { dir: _dir, webDir: _webDir, ...rest } = r;
  return rest;
}
