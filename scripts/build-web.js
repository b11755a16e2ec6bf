#!/usr/bin/env node
// Bundles the editor (web/src, TypeScript) into web/dist with esbuild: index.html, app.js, app.css.
// Runs at install (package.json postinstall) and again from `ddit serve` and the browser tests whenever
// web/dist is missing or older than its sources, so a fresh clone and an edited checkout both serve
// the current editor. `--if-stale` builds only when needed; `--dev` skips minification.
'use strict';

const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const webDir = path.join(root, 'web');
const srcDir = path.join(webDir, 'src');
const distDir = path.join(webDir, 'dist');
const stampFile = path.join(distDir, '.build-stamp');
const TAG = '[ddit] editor:';

/** Newest modification time (ms) among the files the bundle is made from. */
function newestSourceTime() {
  let newest = 0;
  const visit = (p) => {
    const st = fs.statSync(p);
    if (st.isDirectory()) for (const f of fs.readdirSync(p)) visit(path.join(p, f));
    else newest = Math.max(newest, st.mtimeMs);
  };
  visit(srcDir);
  visit(path.join(webDir, 'index.html'));
  visit(path.join(__dirname, 'build-web.js'));
  for (const dep of ['@comfyorg/litegraph/package.json']) {
    try {
      visit(require.resolve(dep, { paths: [root] }));
    } catch {
      // a missing dependency makes the build itself fail with esbuild's message
    }
  }
  return newest;
}

/** True when web/dist is missing, incomplete or older than its sources. */
function isWebStale() {
  if (!fs.existsSync(srcDir)) return false;
  for (const f of ['index.html', 'app.js', 'app.css', '.build-stamp']) {
    if (!fs.existsSync(path.join(distDir, f))) return true;
  }
  return fs.statSync(stampFile).mtimeMs < newestSourceTime();
}

/**
 * Builds web/dist. Returns {built, ms, bytes}. Throws with esbuild's messages when the sources do
 * not compile, so a broken editor never goes out silently.
 */
async function buildWeb(opts = {}) {
  const { ifStale = false, minify = true, quiet = false } = opts;
  if (ifStale && !isWebStale()) return { built: false, ms: 0, bytes: 0 };
  const esbuild = require('esbuild');
  const t0 = Date.now();
  const tmpDir = `${distDir}.tmp-${process.pid}`;
  fs.rmSync(tmpDir, { recursive: true, force: true });
  fs.mkdirSync(tmpDir, { recursive: true });
  try {
    await esbuild.build({
      absWorkingDir: root,
      entryPoints: { app: path.join(srcDir, 'main.ts') },
      bundle: true,
      outdir: tmpDir,
      format: 'iife',
      platform: 'browser',
      target: ['es2022', 'chrome110', 'firefox115', 'safari16'],
      minify,
      sourcemap: minify ? 'linked' : 'inline',
      legalComments: 'linked',
      logLevel: 'silent',
      loader: { '.css': 'css' },
      define: { 'process.env.NODE_ENV': minify ? '"production"' : '"development"' },
    });
    const html = fs.readFileSync(path.join(webDir, 'index.html'), 'utf8');
    // Cache-busting query so a rebuilt editor is fetched after a server restart.
    const version = Date.now().toString(36);
    fs.writeFileSync(
      path.join(tmpDir, 'index.html'),
      html.replace(/(app\.(?:js|css))(?=")/g, `$1?v=${version}`),
    );
    fs.writeFileSync(path.join(tmpDir, '.build-stamp'), `${new Date().toISOString()}\n`);
    // Swap the finished build in, so a server never serves half a bundle.
    fs.rmSync(distDir, { recursive: true, force: true });
    fs.renameSync(tmpDir, distDir);
  } catch (err) {
    fs.rmSync(tmpDir, { recursive: true, force: true });
    const msgs = err && err.errors ? err.errors.map((e) => formatMessage(e)).join('\n') : String(err);
    throw new Error(`${TAG} build failed\n${msgs}`);
  }
  const bytes = ['app.js', 'app.css'].reduce((n, f) => n + fs.statSync(path.join(distDir, f)).size, 0);
  const ms = Date.now() - t0;
  if (!quiet) console.log(`${TAG} built web/dist (${(bytes / 1024).toFixed(0)} KiB) in ${ms} ms`);
  return { built: true, ms, bytes };
}

function formatMessage(e) {
  const loc = e.location ? `${e.location.file}:${e.location.line}:${e.location.column}: ` : '';
  return `  ${loc}${e.text}`;
}

module.exports = { buildWeb, isWebStale, distDir };

if (require.main === module) {
  const args = process.argv.slice(2);
  buildWeb({ ifStale: args.includes('--if-stale'), minify: !args.includes('--dev') }).then(
    (r) => {
      if (!r.built) console.log(`${TAG} web/dist is up to date`);
    },
    (err) => {
      console.error(err.message);
      process.exit(1);
    },
  );
}
