#!/usr/bin/env bash
# Prints the absolute path of a usable Temporal CLI on stdout (one line); progress goes to stderr.
#
# Order (first that works wins):
#   1. $TEMPORAL_CLI_PATH, if it runs `--version`;
#   2. the cached build .cache/bin/temporal, if it is CLI v1.5.1;
#   3. `go install github.com/temporalio/cli/cmd/temporal@v1.5.1` into .cache/bin (about 4 min cold on
#      2 cores; only the Go module proxy is contacted);
#   4. a `temporal` on PATH whose `--version` works (users' machines with a packaged CLI).
# Not done: building our own dev-server main under temporal/devserver/ when Go is absent (see README).
set -euo pipefail

readonly WANT_VERSION=1.5.1
readonly MODULE=github.com/temporalio/cli
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_BIN=${TEMPORAL_CACHE_BIN:-$ROOT/.cache/bin}

log() { echo "[temporal/provision] $*" >&2; }

runs() { "$1" --version >/dev/null 2>&1; }

# `go install` leaves the CLI's Version at 0.0.0-DEV unless the linker sets it, so the cached build is
# recognised either by its --version line or by the module version Go records in the binary.
is_wanted_version() {
  local bin=$1
  "$bin" --version 2>/dev/null | grep -q "version ${WANT_VERSION}\b" && return 0
  command -v go >/dev/null 2>&1 && go version -m "$bin" 2>/dev/null | grep -qE "^\s+mod\s+${MODULE}\s+v${WANT_VERSION}\s" && return 0
  return 1
}

build_with_go() {
  command -v go >/dev/null 2>&1 || { log "go is not installed"; return 1; }
  mkdir -p "$CACHE_BIN"
  log "building ${MODULE}@v${WANT_VERSION} with $(go version | cut -d' ' -f3) into $CACHE_BIN (about 4 min cold)"
  local started=$SECONDS
  # Heartbeat so a long cold build is visibly alive in CI logs.
  ( while sleep 30; do log "still building ($((SECONDS - started)) s)"; done ) &
  local heartbeat=$!
  local rc=0
  GOBIN=$CACHE_BIN GOFLAGS=-mod=mod go install \
    -ldflags "-X ${MODULE}/temporalcli.Version=${WANT_VERSION}" \
    "${MODULE}/cmd/temporal@v${WANT_VERSION}" >&2 || rc=$?
  kill "$heartbeat" 2>/dev/null || true
  wait "$heartbeat" 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then log "go install failed (exit $rc)"; return 1; fi
  log "built in $((SECONDS - started)) s"
}

if [ -n "${TEMPORAL_CLI_PATH:-}" ]; then
  if runs "$TEMPORAL_CLI_PATH"; then echo "$TEMPORAL_CLI_PATH"; exit 0; fi
  log "TEMPORAL_CLI_PATH=$TEMPORAL_CLI_PATH does not run; provisioning another"
fi

cached="$CACHE_BIN/temporal"
if [ -x "$cached" ] && is_wanted_version "$cached"; then echo "$cached"; exit 0; fi

# Two test runs may provision at once: serialise the build on a lock file when flock exists.
mkdir -p "$CACHE_BIN"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE_BIN/.provision.lock"
  flock 9
  if [ -x "$cached" ] && is_wanted_version "$cached"; then echo "$cached"; exit 0; fi
fi

if build_with_go && [ -x "$cached" ] && runs "$cached"; then echo "$cached"; exit 0; fi

if on_path=$(command -v temporal 2>/dev/null) && runs "$on_path"; then
  log "using $on_path ($("$on_path" --version | head -1)); v${WANT_VERSION} is the tested version"
  echo "$on_path"
  exit 0
fi

log "no Temporal CLI: install Go >= 1.23 (then rerun) or set TEMPORAL_CLI_PATH to a temporal binary"
exit 1
