#!/usr/bin/env bash
# Creates .cache/trl-venv: TRL 0.7.11 and the packages it needs (bench/reference/requirements-trl.txt,
# all pinned, installed with --no-deps) on top of .cache/hf-venv's torch, which is reused rather than
# downloaded again (the PyPI torch wheel pulls several GB of CUDA libraries).
#
# How torch is shared: a .pth file in the new venv's site-packages names hf-venv's site-packages.
# Python's `site` module appends .pth directories AFTER the directory holding the .pth, so every
# package installed here (transformers 4.38.2, tokenizers, huggingface-hub, numpy 1.26) shadows
# hf-venv's newer copy, and only what is missing here (torch and its own dependencies) comes from
# hf-venv. Nothing is ever installed into hf-venv.
#
# Idempotent: exits at once when the venv already imports trl 0.7.11 and torch. The .pth file is
# written only after pip has finished, so pip never sees (or tries to replace) hf-venv's packages.
#   bash bench/reference/setup-trl-venv.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV="$ROOT/.cache/trl-venv"
TORCH_VENV="$ROOT/.cache/hf-venv"
REQUIREMENTS="$ROOT/bench/reference/requirements-trl.txt"
PTH_NAME=zz-torch-from-hf-venv.pth
say() { echo "[setup-trl-venv] $*"; }

ready() {
  [ -x "$VENV/bin/python" ] &&
    "$VENV/bin/python" -c 'import torch, trl, sys; sys.exit(trl.__version__ != "0.7.11")' >/dev/null 2>&1
}

if ready; then
  say "$VENV is ready (trl 0.7.11, torch from $TORCH_VENV)"
  exit 0
fi

if ! "$TORCH_VENV/bin/python" -c 'import torch' >/dev/null 2>&1; then
  say "no torch in $TORCH_VENV; create it first (bench/reference/requirements.txt), or install a CPU torch into"
  say "$VENV yourself: $VENV/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu"
  exit 1
fi

# torch's compiled extension only loads under the Python it was built for: use hf-venv's base interpreter.
base_python=$("$TORCH_VENV/bin/python" -c 'import sys; print(sys._base_executable)')
torch_site=$("$TORCH_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

[ -x "$VENV/bin/python" ] || "$base_python" -m venv "$VENV"
own_site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

rm -f "$own_site/$PTH_NAME"
say "installing $(grep -c '==' "$REQUIREMENTS") pinned packages into $VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$REQUIREMENTS"
echo "$torch_site" >"$own_site/$PTH_NAME"

if ! ready; then
  say "$VENV still cannot import trl 0.7.11 and torch:"
  "$VENV/bin/python" -c 'import torch, trl; print(torch.__version__, trl.__version__)' || true
  exit 1
fi
say "ready: $("$VENV/bin/python" -c 'import torch, transformers, trl; print(f"trl {trl.__version__}, transformers {transformers.__version__}, torch {torch.__version__}")')"
