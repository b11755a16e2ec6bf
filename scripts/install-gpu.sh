#!/usr/bin/env bash
# GPU install for a ddit-studio server (docs/gpu.md): adds @tensorflow/tfjs-node-gpu (tfjs on CUDA, picked up by
# the tensor runtime automatically) and the CUDA execution provider of onnxruntime-node (used by ONNX inference
# automatically), then checks what the runtime reports.
#
#   scripts/install-gpu.sh            both parts, then the check
#   scripts/install-gpu.sh --onnx     only onnxruntime's CUDA provider
#   scripts/install-gpu.sh --tfjs     only tfjs-node-gpu
#   scripts/install-gpu.sh --check    only the check (what the runtime and onnxruntime would use)
#
# Needs network access (npm registry, and nuget.org for onnxruntime's CUDA binaries), an NVIDIA driver, and the
# CUDA libraries each part is built against (see docs/gpu.md). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

want_tfjs=1
want_onnx=1
case "${1:-}" in
  --onnx) want_tfjs=0 ;;
  --tfjs) want_onnx=0 ;;
  --check) want_tfjs=0; want_onnx=0 ;;
  "") ;;
  *) echo "usage: $0 [--onnx|--tfjs|--check]" >&2; exit 2 ;;
esac

say() { printf '[ddit gpu] %s\n' "$*"; }

if command -v nvidia-smi >/dev/null 2>&1; then
  say "driver: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -n 1)"
else
  say "nvidia-smi not found: no NVIDIA driver on this machine; the install can proceed but nothing will run on a GPU"
fi

if [ "$want_onnx" = 1 ]; then
  ort_dir=node_modules/onnxruntime-node
  [ -d "$ort_dir" ] || { say "onnxruntime-node is not installed (run npm ci first)"; exit 1; }
  bin_dir="$ort_dir/bin/napi-v6/linux/x64"
  if [ -f "$bin_dir/libonnxruntime_providers_cuda.so" ]; then
    say "onnxruntime-node: CUDA provider already present"
  else
    say "onnxruntime-node $(node -p "require('./$ort_dir/package.json').version"): fetching the CUDA 12 provider from nuget.org"
    # the package's own installer: downloads Microsoft.ML.OnnxRuntime.Gpu.Linux of the same version and copies
    # libonnxruntime_providers_{cuda,shared,tensorrt}.so next to libonnxruntime.so
    (cd "$ort_dir" && node script/install.js --onnxruntime-node-install=cuda12)
    [ -f "$bin_dir/libonnxruntime_providers_cuda.so" ] || { say "the CUDA provider did not install"; exit 1; }
  fi
fi

if [ "$want_tfjs" = 1 ]; then
  tfjs_version=$(node -p "require('@tensorflow/tfjs/package.json').version")
  if node -e "require.resolve('@tensorflow/tfjs-node-gpu')" >/dev/null 2>&1; then
    say "@tensorflow/tfjs-node-gpu already installed"
  else
    say "installing @tensorflow/tfjs-node-gpu@$tfjs_version (matching @tensorflow/tfjs; downloads libtensorflow with GPU support)"
    # --no-save: the GPU package stays a deployment choice, package.json keeps the CPU install reproducible
    npm install --no-save --foreground-scripts "@tensorflow/tfjs-node-gpu@$tfjs_version"
  fi
  # the binding is built by the package's install script; npm may skip scripts, so make sure it ran
  if ! node -e "require('@tensorflow/tfjs-node-gpu')" >/dev/null 2>&1; then
    say "building the tfjs-node-gpu binding"
    npm rebuild --foreground-scripts @tensorflow/tfjs-node-gpu
  fi
fi

say "check:"
node --require tsx/cjs -e "
const { initRuntime, runtimeInfo, onnxRuntimeInfo, OnnxModel } = require('./server/runtime');
(async () => {
  const info = await initRuntime();
  console.log('  tensor runtime: ' + info.backend + ' (' + info.package + '), device: ' + info.device);
  if (info.fallbacks.length) console.log('  fell back: ' + info.fallbacks.join('; '));
  const ort = onnxRuntimeInfo();
  console.log('  onnxruntime ' + ort.version + ': providers ' + ort.providers.join(', ') + (ort.cuda ? '' : ' (no CUDA provider)'));
  if (ort.cuda) {
    // a one-node graph, to see that a CUDA session really starts (CUDA and cuDNN libraries found)
    const { OnnxGraph } = require('./server/runtime/onnx-graph');
    const g = new OnnxGraph('probe');
    const x = g.input('x', 'float32', [2]);
    g.output('y', 'float32', [2], g.op('Relu', [x]));
    try {
      const m = await OnnxModel.load(g.toBytes(), { device: 'cuda', label: 'probe' });
      console.log('  onnxruntime CUDA session: ok (' + m.provider + ')');
      m.dispose();
    } catch (e) {
      console.log('  onnxruntime CUDA session failed: ' + e.message);
      process.exitCode = 1;
    }
  }
  console.log('  (runtimeInfo is what /system_stats reports)');
  process.exit(process.exitCode || 0);
})().catch((e) => { console.error(e); process.exit(1); });
"
