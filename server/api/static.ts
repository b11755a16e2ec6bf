import * as fs from 'fs';
import * as path from 'path';
import express, { type Express } from 'express';
import { resolveExtensionFile, type PluginReport } from '../plugins';
import { HttpError } from './http-errors';

function missingEditorPage(webDir: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ddit-studio</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;color:#222}
code{background:#f3f3f3;padding:.1em .3em;border-radius:3px}</style></head>
<body><h1>ddit-studio server is running</h1>
<p>The web editor has not been built: <code>${webDir.replace(/[<>&]/g, '')}</code> does not exist.
Build it with the project's build step, then reload this page.</p>
<p>The API works without it: see <a href="/openapi.json">/openapi.json</a>, <a href="/system_stats">/system_stats</a>,
<a href="/object_info">/object_info</a> and the README's API section. WebSocket: <code>/ws?clientId=…</code>.</p>
</body></html>`;
}

/** The built editor at `/` and plugin editor extensions at `/extensions/<pack>/<file>`. */
export function mountStatic(app: Express, webDir: string, plugins: readonly PluginReport[]): void {
  // Plugin editor scripts, only from each loaded pack's web folder (no '..', no symlinks out of it).
  app.get('/extensions/:pack/*file', (req, res) => {
    const rel = (req.params as unknown as { file: string[] }).file.join('/');
    const file = resolveExtensionFile(plugins, req.params.pack, rel);
    if (!file) throw new HttpError(404, 'not_found', `no editor extension file ${req.params.pack}/${rel}`);
    res.sendFile(file, { headers: { 'X-Content-Type-Options': 'nosniff' } });
  });

  app.use(express.static(webDir, { index: 'index.html', fallthrough: true }));
  app.get('/', (_req, res) => {
    if (fs.existsSync(path.join(webDir, 'index.html'))) {
      res.sendFile(path.join(webDir, 'index.html'));
      return;
    }
    res.status(200).type('html').send(missingEditorPage(webDir));
  });
}
