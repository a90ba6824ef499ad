#!/usr/bin/env bash
# Prints the absolute path of a usable Temporal CLI on stdout (one line); progress goes to stderr.
#
# Order (first that works wins):
#   1. $TEMPORAL_CLI_PATH, if it runs `--version`;
#   2. the cached build .cache/bin/temporal, if it is CLI v1.5.1;
#   3. `go install github.com/temporalio/cli/cmd/temporal@v1.5.1` into .cache/bin (about 4 min cold on
#      2 cores; only the Go module proxy is contacted);
#   4. our own dev server, temporal/devserver (go.temporal.io/server v1.29.1, the server that CLI v1.5.1
#      embeds, with its Web UI): .cache/bin/temporal-devserver, built with `go build` when missing or
#      when its sources changed (their hash is kept next to it). It answers the part of the CLI's
#      command line this project uses (`server start-dev`, `operator cluster health`,
#      `operator search-attribute list`, `--version`); see temporal/README.md for what it lacks;
#   5. a `temporal` on PATH whose `--version` works (users' machines with a packaged CLI).
# Step 4 comes before 5 because it pins the server version the tests run against, while a packaged
# CLI can be any version; 5 still serves machines without Go, where 3 and 4 cannot build.
#
# TEMPORAL_PROVISION=devserver skips 1-3 and 5: only our own dev server (cached or built), for tests
# of this route and for users whose proxy refuses the CLI module. TEMPORAL_PROVISION=auto (default)
# is the order above. TEMPORAL_CACHE_BIN overrides .cache/bin.
set -euo pipefail

readonly WANT_VERSION=1.5.1
readonly MODULE=github.com/temporalio/cli
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_BIN=${TEMPORAL_CACHE_BIN:-$ROOT/.cache/bin}
readonly DEVSERVER_SRC=$ROOT/temporal/devserver
readonly DEVSERVER_BIN=$CACHE_BIN/temporal-devserver
# sha256 of the sources the cached dev server was built from.
readonly DEVSERVER_STAMP=$CACHE_BIN/temporal-devserver.sources-sha256
MODE=${TEMPORAL_PROVISION:-auto}

log() { echo "[temporal/provision] $*" >&2; }

runs() { "$1" --version >/dev/null 2>&1; }

case "$MODE" in
  auto | devserver) ;;
  *) log "TEMPORAL_PROVISION=$MODE: want auto or devserver"; exit 2 ;;
esac

# `go install` leaves the CLI's Version at 0.0.0-DEV unless the linker sets it, so the cached build is
# recognised either by its --version line or by the module version Go records in the binary.
is_wanted_version() {
  local bin=$1
  "$bin" --version 2>/dev/null | grep -q "version ${WANT_VERSION}\b" && return 0
  command -v go >/dev/null 2>&1 && go version -m "$bin" 2>/dev/null | grep -qE "^\s+mod\s+${MODULE}\s+v${WANT_VERSION}\s" && return 0
  return 1
}

# with_heartbeat CMD...: runs CMD, logging every 30 s so a long cold build is visibly alive in CI logs.
with_heartbeat() {
  local started=$SECONDS
  ( while sleep 30; do log "still building ($((SECONDS - started)) s)"; done ) &
  local heartbeat=$!
  local rc=0
  "$@" || rc=$?
  kill "$heartbeat" 2>/dev/null || true
  wait "$heartbeat" 2>/dev/null || true
  return "$rc"
}

build_cli() {
  command -v go >/dev/null 2>&1 || { log "go is not installed"; return 1; }
  log "building ${MODULE}@v${WANT_VERSION} with $(go version | cut -d' ' -f3) into $CACHE_BIN (about 4 min cold)"
  local started=$SECONDS rc=0
  GOBIN=$CACHE_BIN GOFLAGS=-mod=mod with_heartbeat go install \
    -ldflags "-X ${MODULE}/temporalcli.Version=${WANT_VERSION}" \
    "${MODULE}/cmd/temporal@v${WANT_VERSION}" >&2 || rc=$?
  if [ "$rc" -ne 0 ]; then log "go install failed (exit $rc)"; return 1; fi
  log "built in $((SECONDS - started)) s"
}

sha256_of() { if command -v sha256sum >/dev/null 2>&1; then sha256sum "$@"; else shasum -a 256 "$@"; fi; }

# The hash of every file the dev-server build reads from this repository (names and contents); the
# *_test.go files are not part of the binary. Not the Go version: another toolchain builds the same
# program, so it is no reason to rebuild.
devserver_sources_hash() {
  local f sources=()
  for f in "$DEVSERVER_SRC"/*.go; do [[ $f == *_test.go ]] || sources+=("${f##*/}"); done
  (cd "$DEVSERVER_SRC" && sha256_of go.mod go.sum "${sources[@]}") | sha256_of | cut -d' ' -f1
}

devserver_is_current() {
  [ -x "$DEVSERVER_BIN" ] && [ -f "$DEVSERVER_STAMP" ] &&
    [ "$(cat "$DEVSERVER_STAMP")" = "$(devserver_sources_hash)" ] && runs "$DEVSERVER_BIN"
}

# Builds into a temporary name and renames, so a failed or interrupted build never leaves a binary
# that the stamp check would take for current. -mod=readonly: go.mod and go.sum are committed and
# complete, so the build never edits them (and a user's GOFLAGS=-mod=... cannot change that).
build_devserver() {
  command -v go >/dev/null 2>&1 || { log "go is not installed: cannot build temporal/devserver"; return 1; }
  log "building our dev server (temporal/devserver, go.temporal.io/server) with $(go version | cut -d' ' -f3) into $DEVSERVER_BIN" \
    "(about 20 s with the Go build cache the CLI build leaves, minutes without)"
  local started=$SECONDS rc=0 hash tmp
  hash=$(devserver_sources_hash)
  tmp="$DEVSERVER_BIN.tmp.$$"
  (cd "$DEVSERVER_SRC" && with_heartbeat go build -mod=readonly -o "$tmp" .) >&2 || rc=$?
  if [ "$rc" -ne 0 ]; then rm -f "$tmp"; log "go build of temporal/devserver failed (exit $rc)"; return 1; fi
  mv -f "$tmp" "$DEVSERVER_BIN"
  echo "$hash" >"$DEVSERVER_STAMP"
  log "built in $((SECONDS - started)) s"
}

# Two test runs may provision at once: serialise builds on a lock file when flock exists. Held until
# exit; taking it twice is a no-op.
locked=0
take_build_lock() {
  [ "$locked" = 1 ] && return 0
  locked=1
  mkdir -p "$CACHE_BIN"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$CACHE_BIN/.provision.lock"
    flock 9
  fi
}

use_devserver() {
  if devserver_is_current || { take_build_lock && { devserver_is_current || build_devserver; }; }; then
    if runs "$DEVSERVER_BIN"; then
      log "using our dev server $DEVSERVER_BIN ($("$DEVSERVER_BIN" --version))"
      echo "$DEVSERVER_BIN"
      return 0
    fi
    log "$DEVSERVER_BIN was built but does not run --version"
  fi
  return 1
}

if [ "$MODE" = devserver ]; then
  use_devserver && exit 0
  log "TEMPORAL_PROVISION=devserver: could not build temporal/devserver (needs Go >= 1.21 on PATH)"
  exit 1
fi

if [ -n "${TEMPORAL_CLI_PATH:-}" ]; then
  if runs "$TEMPORAL_CLI_PATH"; then echo "$TEMPORAL_CLI_PATH"; exit 0; fi
  log "TEMPORAL_CLI_PATH=$TEMPORAL_CLI_PATH does not run; provisioning another"
fi

cached="$CACHE_BIN/temporal"
if [ -x "$cached" ] && is_wanted_version "$cached"; then echo "$cached"; exit 0; fi

take_build_lock
if [ -x "$cached" ] && is_wanted_version "$cached"; then echo "$cached"; exit 0; fi
if build_cli && [ -x "$cached" ] && runs "$cached"; then echo "$cached"; exit 0; fi

log "falling back to our own dev server (temporal/devserver)"
use_devserver && exit 0

if on_path=$(command -v temporal 2>/dev/null) && runs "$on_path"; then
  log "using $on_path ($("$on_path" --version | head -1)); v${WANT_VERSION} is the tested version"
  echo "$on_path"
  exit 0
fi

log "no Temporal CLI: install Go >= 1.21 (then rerun) or set TEMPORAL_CLI_PATH to a temporal binary"
exit 1
