#!/usr/bin/env node
// Builds the optional native kernels (native/, an N-API addon over OpenBLAS)
// with node-gyp. Runs as the package's postinstall and must never fail the
// install: when the compiler, BLAS or Node headers are missing it prints one
// line saying so and exits 0, and the runtime keeps the wasm kernels.
'use strict';

const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const nativeDir = path.join(root, 'native');
const addonFile = path.join(nativeDir, 'build', 'Release', 'ddit_native.node');
const logFile = path.join(nativeDir, 'build-native.log');
const TAG = '[ddit] native kernels:';
const FALLBACK = 'training uses the wasm kernels';

function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(
      path.dirname(process.execPath),
      '..',
      'lib',
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    ),
  ];
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed locally: the other candidates may still exist
  }
  return candidates.find((p) => p && fs.existsSync(p)) || null;
}

// Headers of the running Node, so node-gyp never tries to download them.
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  return fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

// One short reason drawn from the compiler/node-gyp output.
function diagnose(output) {
  if (/cblas\.h: No such file|cannot find -lopenblas|openblas.*not found/i.test(output)) {
    return 'OpenBLAS not found (install libopenblas-dev)';
  }
  if (
    /(g\+\+|c\+\+|make): (command )?not found|not found: (make|g\+\+)|No such file or directory.*(g\+\+|c\+\+)/i.test(
      output,
    )
  ) {
    return 'no C++ toolchain (install g++ and make)';
  }
  if (/node_api\.h: No such file|napi\.h: No such file|Could not find common\.gypi|download/i.test(output)) {
    return 'Node headers or node-addon-api not available';
  }
  if (/python/i.test(output) && /not found|Could not find/i.test(output))
    return 'python3 not found (node-gyp needs it)';
  return 'build failed';
}

function main() {
  const flag = (process.env.DDIT_NATIVE || '').trim().toLowerCase();
  if (['0', 'false', 'off', 'no'].includes(flag)) {
    console.log(`${TAG} skipped (DDIT_NATIVE=${process.env.DDIT_NATIVE}); ${FALLBACK}.`);
    return;
  }
  const nodeGyp = findNodeGyp();
  if (!nodeGyp) {
    console.log(`${TAG} not built (node-gyp not found); ${FALLBACK}.`);
    return;
  }
  const result = spawnSync(process.execPath, [nodeGyp, 'rebuild', ...nodedirArgs()], {
    cwd: nativeDir,
    encoding: 'utf8',
    timeout: 10 * 60 * 1000,
    env: process.env,
  });
  const output = `${result.stdout || ''}\n${result.stderr || ''}${result.error ? `\n${result.error.message}` : ''}`;
  try {
    fs.writeFileSync(logFile, output);
  } catch {
    // the log is a convenience only
  }
  const logHint = `see ${path.relative(process.cwd(), logFile)}`;
  if (result.status !== 0 || !fs.existsSync(addonFile)) {
    console.log(`${TAG} not built (${diagnose(output)}; ${logHint}); ${FALLBACK}.`);
    return;
  }
  // Prove the binary loads (libopenblas present at run time, ABI fine).
  const probe = spawnSync(
    process.execPath,
    ['-e', `process.stdout.write(require(${JSON.stringify(addonFile)}).library())`],
    {
      encoding: 'utf8',
      timeout: 60 * 1000,
    },
  );
  if (probe.status !== 0) {
    const reason = (probe.stderr || '').split('\n').find((l) => /Error/.test(l)) || 'load failed';
    console.log(`${TAG} built but does not load (${reason.trim()}); ${FALLBACK}.`);
    return;
  }
  console.log(`${TAG} built (${probe.stdout.trim()}).`);
}

try {
  main();
} catch (err) {
  console.log(`${TAG} not built (${err && err.message ? err.message : err}); ${FALLBACK}.`);
}
process.exitCode = 0;
