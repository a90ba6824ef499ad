#!/usr/bin/env bash
# `npm run demo`: the main job end to end (feedback → trained policy, with live progress).
# Installs the npm dependencies on a fresh checkout, then hands over to scripts/demo.ts.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -d node_modules/@temporalio/worker ]; then
  echo "installing npm dependencies (npm ci)…"
  npm ci --no-audit --no-fund
fi
# Native TensorFlow (cached after the first time); when it cannot be had the workers use WASM.
bash scripts/native/provision-tensorflow.sh || true
exec node node_modules/tsx/dist/cli.mjs scripts/demo.ts "$@"
