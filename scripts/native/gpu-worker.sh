#!/usr/bin/env bash
# Starts the GPU worker (worker/gpu.ts) with the NVIDIA libraries on LD_LIBRARY_PATH (gpu-env.sh) and the
# tfjs-node-gpu backend preferred; without a GPU build it falls back (tensorflow → WASM) and logs why.
#   bash scripts/native/gpu-worker.sh
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# shellcheck source=gpu-env.sh
source scripts/native/gpu-env.sh
export RLHF_BACKEND=${RLHF_BACKEND:-tensorflow-gpu}
exec node node_modules/tsx/dist/cli.mjs worker/gpu.ts
