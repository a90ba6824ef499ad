#!/usr/bin/env bash
# Installs schemathesis (PyPI; the API conformance fuzzer test/api/schemathesis.test.ts runs) into
# a virtual environment under .cache/, once per checkout, and prints the path of its executable.
# Needs python3 with venv and pip reaching PyPI. Exits non-zero, saying why, when it cannot.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VERSION=4.32.5
venv="$ROOT/.cache/schemathesis-venv"
bin="$venv/bin/schemathesis"
if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "version $VERSION"; then
  echo "$bin"; exit 0
fi
command -v python3 >/dev/null || { echo "install-schemathesis: python3 is not installed" >&2; exit 1; }
mkdir -p "$ROOT/.cache"
python3 -m venv "$venv" >&2 || { echo "install-schemathesis: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
"$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION" >&2 || { echo "install-schemathesis: pip could not install schemathesis==$VERSION" >&2; exit 1; }
echo "$bin"
