#!/usr/bin/env bash
# Provisions the native TensorFlow backend for TensorFlow.js: @tensorflow/tfjs-node (or -gpu) compiled
# here against the C libraries of PyPI's TensorFlow wheel, installed into this checkout's node_modules.
#
#   bash scripts/native/provision-tensorflow.sh [--variant cpu|gpu] [--quiet]
#
# Exit 0: the native backend loads (status line on stdout). Exit 10: it cannot be had here (one line saying
# why; ml/backend.ts then falls back to WASM, as before). Any other exit code is a bug in this script.
# `RLHF_NATIVE=0` skips it (exit 10). Idempotent and cached: the libraries and the compiled binding live in
# ${RLHF_CACHE_DIR:-.cache}/tensorflow/<variant>-<tf version>/ (~820 MB for cpu); once there, a run only
# re-installs the npm package when `npm ci` removed it and copies the binding (seconds).
#
# Why this route: tfjs-node's own installer downloads libtensorflow from a Google bucket (unreachable
# here), and its npm package is an optional dependency, so `npm ci` leaves it out when that fails. The
# wheel's `libtensorflow_cc.so.2` exports the same TF/TFE C API the binding calls (checked on 2.21.0).
# Steps: pip downloads the pinned wheel (sha256 via --require-hashes) → only the two libraries and the
# few C-API headers are unpacked → npm installs the pinned package without scripts (lockfile integrity,
# one shared tfjs-core) → node-gyp (bundled with npm; headers from this Node's own prefix, nothing
# downloaded) compiles the binding against them → the binding's rpath ($ORIGIN/../../deps/lib) finds the
# cached libraries through a symlink.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# shellcheck source=tensorflow-pins.sh
source scripts/native/tensorflow-pins.sh

variant=cpu
quiet=0
while [ $# -gt 0 ]; do
  case "$1" in
    --variant) variant=${2:-}; shift 2 ;;
    --quiet) quiet=1; shift ;;
    *) echo "[native] unknown option $1 (use --variant cpu|gpu, --quiet)" >&2; exit 2 ;;
  esac
done
case "$variant" in
  cpu) package=@tensorflow/tfjs-node; wheel_package=$TF_CPU_WHEEL_PACKAGE; wheel_sha=$TF_CPU_WHEEL_SHA256; backend=tensorflow ;;
  gpu) package=@tensorflow/tfjs-node-gpu; wheel_package=$TF_GPU_WHEEL_PACKAGE; wheel_sha=$TF_GPU_WHEEL_SHA256; backend=tensorflow-gpu ;;
  *) echo "[native] --variant must be cpu or gpu" >&2; exit 2 ;;
esac

cache_root=${RLHF_CACHE_DIR:-$ROOT/.cache}
cache=$cache_root/tensorflow/$variant-$TF_VERSION
log=$cache_root/tensorflow/provision-$variant.log
pkg_dir=$ROOT/node_modules/$package
# The binding depends on the pins and on how it was built, i.e. on this script.
build_key=$(cat scripts/native/tensorflow-pins.sh scripts/native/provision-tensorflow.sh | sha256sum | cut -c1-16)
started=$SECONDS

say() { [ "$quiet" = 1 ] || echo "[native] $*" >&2; }
# One line on stdout for the caller, exit 10: the project carries on with WASM.
unavailable() {
  echo "[native] native TensorFlow unavailable ($*); using the WASM backend. Details: $log"
  exit 10
}

if [ "${RLHF_NATIVE:-1}" = "0" ]; then
  echo "[native] RLHF_NATIVE=0: not provisioning native TensorFlow; using the WASM backend"
  exit 10
fi
mkdir -p "$(dirname "$log")"
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || unavailable "the pinned wheel is for Linux x86_64, this is $(uname -s)-$(uname -m)"
[ -d node_modules/@tensorflow/tfjs-core ] || unavailable "node_modules is not installed yet (run npm ci first)"

# Loads the backend through ml/backend.ts, so the check uses the project's own tfjs-core.
verify() {
  RLHF_BACKEND=$backend node node_modules/tsx/dist/cli.mjs scripts/native/check-backend.ts --expect "$backend" 2>>"$log"
}

# Fast path: already installed from this build of the binding.
if [ -f "$pkg_dir/lib/napi-v8/tfjs_binding.node" ] && [ "$(cat "$pkg_dir/.rlhf-build" 2>/dev/null)" = "$build_key" ]; then
  if status=$(verify); then
    echo "[native] $status (ready, $((SECONDS - started)) s)"
    exit 0
  fi
  say "installed binding failed its check; rebuilding"
fi

: >"$log"
exec 3>>"$log"

# 1. The libraries and headers, unpacked once from the pinned wheel.
if [ ! -f "$cache/lib/libtensorflow_cc.so.2" ]; then
  [ -n "$wheel_sha" ] || unavailable "no sha256 pinned for the $variant wheel in scripts/native/tensorflow-pins.sh"
  command -v python3 >/dev/null 2>&1 && python3 -m pip --version >&3 2>&1 || unavailable "python3 with pip is missing (the libraries come from PyPI)"
  wheels=$(mktemp -d "$cache_root/tensorflow/wheel.XXXXXX")
  trap 'rm -rf "$wheels"' EXIT
  echo "$wheel_package==$TF_VERSION --hash=sha256:$wheel_sha" >"$wheels/requirements.txt"
  say "downloading $wheel_package $TF_VERSION from PyPI (~275 MB for cpu; sha256 checked)…"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
    --platform "$TF_WHEEL_PLATFORM" --python-version "$TF_WHEEL_PYTHON" --implementation cp \
    -r "$wheels/requirements.txt" -d "$wheels" >&3 2>&1 || unavailable "pip could not download $wheel_package==$TF_VERSION (see the log)"
  say "unpacking the libraries and C API headers…"
  staging=$cache.staging-$$
  rm -rf "$staging"
  python3 scripts/native/unpack-wheel.py "$wheels"/*.whl "$staging" >&3 2>&1 || unavailable "the wheel did not contain the expected libraries (see the log)"
  rm -rf "$cache"
  mv "$staging" "$cache"
  rm -rf "$wheels"
  trap - EXIT
fi

# 2. The npm package, without its install script (which would download), verified by the lockfile.
if [ ! -f "$pkg_dir/package.json" ]; then
  say "installing $package@$TFJS_NODE_VERSION without its download script…"
  npm install --no-save --ignore-scripts --no-audit --no-fund "$package@$TFJS_NODE_VERSION" >&3 2>&1 || unavailable "npm could not install $package"
fi
installed=$(node -p "require('./node_modules/$package/package.json').version")
[ "$installed" = "$TFJS_NODE_VERSION" ] || unavailable "$package $installed is installed, the pins want $TFJS_NODE_VERSION"

# 3. The binding, compiled once per build key and kept in the cache.
binding=$cache/binding-$build_key/tfjs_binding.node
if [ ! -f "$binding" ]; then
  command -v c++ >/dev/null 2>&1 && command -v make >/dev/null 2>&1 || unavailable "a C++ compiler and make are needed to build the binding"
  node_gyp=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")/node_modules/node-gyp/bin/node-gyp.js
  [ -f "$node_gyp" ] || unavailable "node-gyp (bundled with npm) was not found at $node_gyp"
  node_prefix=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
  [ -f "$node_prefix/include/node/node_api.h" ] || unavailable "this Node has no headers under $node_prefix/include/node"
  build=$(mktemp -d "$cache_root/tensorflow/build.XXXXXX")
  trap 'rm -rf "$build"' EXIT
  cp -r "$pkg_dir/binding" "$pkg_dir/binding.gyp" "$pkg_dir/package.json" "$build/"
  mkdir -p "$build/deps"
  ln -s "$cache/lib" "$build/deps/lib"
  ln -s "$cache/include" "$build/deps/include"
  say "compiling the binding against TensorFlow $TF_VERSION…"
  (cd "$build" && node "$node_gyp" rebuild --nodedir="$node_prefix" \
    --module_name=tfjs_binding --module_path=./lib/napi-v8 --napi_build_version=8) >&3 2>&1 ||
    unavailable "node-gyp could not compile the binding (see the log)"
  mkdir -p "$(dirname "$binding")"
  cp "$build/build/Release/tfjs_binding.node" "$binding.tmp"
  mv "$binding.tmp" "$binding"
  rm -rf "$build"
  trap - EXIT
fi

# 4. Install: the binding where node-pre-gyp looks (napi-v8), the libraries where its rpath looks.
mkdir -p "$pkg_dir/lib/napi-v8" "$pkg_dir/deps"
cp "$binding" "$pkg_dir/lib/napi-v8/tfjs_binding.node"
rm -rf "$pkg_dir/deps/lib"
ln -s "$cache/lib" "$pkg_dir/deps/lib"
if ! status=$(verify); then
  rm -f "$pkg_dir/.rlhf-build"
  unavailable "the built backend did not load (see the log)"
fi
echo "$build_key" >"$pkg_dir/.rlhf-build"
echo "[native] $status (provisioned in $((SECONDS - started)) s)"
