#!/usr/bin/env bash
# Installs the NVIDIA CUDA/cuDNN runtime libraries that the GPU variant of the native backend loads
# (tfjs-node-gpu against PyPI's CUDA `tensorflow` wheel; scripts/native/provision-tensorflow.sh --variant gpu):
# the wheels `tensorflow[and-cuda]==$TF_VERSION` pulls, pinned with sha256 in nvidia-requirements.txt,
# unpacked with `pip install --target` into ${RLHF_CACHE_DIR:-.cache}/tensorflow/nvidia-cu12-<tf version>/.
# About 3 GB on disk (cuDNN and cuBLAS are most of it). Idempotent: a second run only checks the marker.
#
#   bash scripts/native/provision-nvidia.sh [--dry-run]
#
# --dry-run prints what it would run and where, and installs nothing. Exit 0: installed (or already there);
# exit 10: pip or the network is missing (one line; the worker then runs without the GPU).
# Then `source scripts/native/gpu-env.sh` puts the libraries on LD_LIBRARY_PATH (scripts/native/gpu-worker.sh does).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# shellcheck source=tensorflow-pins.sh
source scripts/native/tensorflow-pins.sh

dry_run=0
case "${1:-}" in
  --dry-run) dry_run=1 ;;
  "") ;;
  *) echo "[nvidia] unknown option $1 (use --dry-run)" >&2; exit 2 ;;
esac

cache_root=${RLHF_CACHE_DIR:-$ROOT/.cache}
target=$cache_root/tensorflow/nvidia-cu12-$TF_VERSION
requirements=scripts/native/nvidia-requirements.txt
# The marker names the requirements it was made from, so a changed pin reinstalls.
key=$(sha256sum "$requirements" | cut -c1-16)
# pip's --platform takes exact tags; the NVIDIA wheels use several manylinux generations.
platforms=(--platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_12_x86_64 --platform manylinux2010_x86_64)
cmd=(python3 -m pip install --quiet --no-deps --only-binary=:all: --require-hashes "${platforms[@]}"
  --python-version "$TF_WHEEL_PYTHON" --implementation cp --target "$target.staging" -r "$requirements")

if [ "$dry_run" = 1 ]; then
  echo "[nvidia] would install into $target:"
  grep -v '^#' "$requirements" | cut -d' ' -f1 | sed 's/^/[nvidia]   /'
  echo "[nvidia] with: ${cmd[*]}"
  exit 0
fi
if [ "$(cat "$target/.rlhf-nvidia" 2>/dev/null)" = "$key" ]; then
  echo "[nvidia] NVIDIA libraries ready in $target"
  exit 0
fi
if ! python3 -m pip --version >/dev/null 2>&1; then
  echo "[nvidia] python3 with pip is missing; the GPU worker cannot load CUDA"
  exit 10
fi
echo "[nvidia] installing the NVIDIA CUDA 12 wheels (~3 GB, sha256 checked) into $target…" >&2
rm -rf "$target.staging"
mkdir -p "$(dirname "$target")"
"${cmd[@]}" >&2 || { echo "[nvidia] pip could not install the NVIDIA wheels"; rm -rf "$target.staging"; exit 10; }
rm -rf "$target"
mv "$target.staging" "$target"
echo "$key" >"$target/.rlhf-nvidia"
echo "[nvidia] NVIDIA libraries installed in $target"
