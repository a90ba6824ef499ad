#!/usr/bin/env bash
# The GPU check of issue 10, for a machine with an NVIDIA GPU (none on the development machines):
#   1. provisions the GPU variant: the CUDA `tensorflow` wheel's libraries + tfjs-node-gpu compiled against
#      them (scripts/native/provision-tensorflow.sh --variant gpu) and the NVIDIA CUDA 12 wheels
#      (scripts/native/provision-nvidia.sh), then puts those on LD_LIBRARY_PATH (scripts/native/gpu-env.sh);
#   2. runs the backend smoke test on tensorflow-gpu (one matmul against its known answer);
#   3. runs the GPT-2-small-shape bench (bench/gpt2-small.ts: forward, LoRA step, KV-cache generation and one
#      PPO update of the `quick` batch shape) on tensorflow-gpu.
# Everything it says goes to $OUT (default: ./device-check-out): nvidia-smi.txt, provision.log, smoke.txt,
# bench.log, gpt2-small.md (the bench's section, not written into bench/RESULTS.md here), summary.txt.
#
#   OUT=/some/dir bash bench/device-check.sh [--dry-run]
#
# Needs npm ci done, and PyPI reachable for step 1 (or RLHF_CACHE_DIR holding a cache provisioned before).
# --dry-run prints the steps and the NVIDIA wheels it would install, runs nothing that needs a GPU or network.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/device-check-out}
dry_run=0
[ "${1:-}" = "--dry-run" ] && dry_run=1
tsx=(node node_modules/tsx/dist/cli.mjs)

step() { echo "[device-check] $*" | tee -a "$OUT/summary.txt" >&2; }
run() {
  if [ "$dry_run" = 1 ]; then echo "[device-check] would run: $*" >&2; else "$@"; fi
}

mkdir -p "$OUT"
: >"$OUT/summary.txt"
step "$(date -u +%FT%TZ) on $(hostname), $(nproc) cores; out: $OUT"
if [ "$dry_run" = 0 ]; then
  command -v nvidia-smi >/dev/null 2>&1 || { step "no nvidia-smi: not a GPU machine"; exit 1; }
  nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || { step "nvidia-smi failed (see nvidia-smi.txt)"; exit 1; }
  step "GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)"
fi

# 1. Provisioning (cached: seconds on a second run).
t0=$SECONDS
# (its --dry-run only prints the pinned wheels and the pip command)
nvidia_args=()
[ "$dry_run" = 1 ] && nvidia_args=(--dry-run)
bash scripts/native/provision-nvidia.sh "${nvidia_args[@]}" 2>>"$OUT/provision.log" | tee -a "$OUT/summary.txt" >&2
# shellcheck source=../scripts/native/gpu-env.sh
source scripts/native/gpu-env.sh
step "LD_LIBRARY_PATH has $(echo "${RLHF_NVIDIA_LIBS:-}" | tr ':' '\n' | grep -c . || true) NVIDIA library directories"
if ! run bash scripts/native/provision-tensorflow.sh --variant gpu >>"$OUT/summary.txt" 2>>"$OUT/provision.log"; then
  step "provisioning the GPU variant failed (provision.log; the build log is under .cache/tensorflow/provision-gpu.log)"
  cp "${RLHF_CACHE_DIR:-.cache}/tensorflow/provision-gpu.log" "$OUT/" 2>/dev/null || true
  exit 1
fi
step "provisioned in $((SECONDS - t0)) s"

# 2. Smoke test: the backend the workers get, and one matmul.
export RLHF_BACKEND=tensorflow-gpu
if ! run "${tsx[@]}" scripts/native/check-backend.ts --expect tensorflow-gpu >"$OUT/smoke.txt" 2>&1; then
  step "smoke test failed: $(tail -1 "$OUT/smoke.txt")"
  exit 1
fi
step "smoke test: $(cat "$OUT/smoke.txt" 2>/dev/null)"

# 3. The GPT-2-small-shape bench on the GPU only (the CPU figures come from the development machines).
run "${tsx[@]}" bench/gpt2-small.ts --backends tensorflow-gpu --runs 5 --ppo --ppo-runs 2 --no-write --section-out "$OUT/gpt2-small.md" >"$OUT/bench.log" 2>&1 ||
  { step "bench failed: $(tail -3 "$OUT/bench.log")"; exit 1; }
step "bench: $(grep -E '^(tensorflow-gpu|ppo update)' "$OUT/bench.log" 2>/dev/null | tr '\n' ' ')"
step "done in $((SECONDS - t0)) s"
