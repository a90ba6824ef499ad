#!/usr/bin/env bash
# Stops the dev server that temporal/start-dev.sh started, by its pid file: SIGTERM (it closes the SQLite
# file and exits), then SIGKILL after 20 s. Never kills a pid that is not a `temporal server start-dev`.
#   --data-dir D    TEMPORAL_DATA_DIR, else data/temporal (where dev.pid lives)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { echo "[temporal/stop-dev] $*" >&2; }

data_dir=${TEMPORAL_DATA_DIR:-$ROOT/data/temporal}
while [ $# -gt 0 ]; do
  case "$1" in
    --data-dir) data_dir=$2; shift 2 ;;
    *) log "unknown option $1"; exit 2 ;;
  esac
done

pid_file="$data_dir/dev.pid"
if [ ! -s "$pid_file" ]; then log "no pid file at $pid_file: nothing to stop"; exit 0; fi
pid=$(cat "$pid_file")
# A stale pid file may name a pid the OS has since given to another process: check its command line.
if ! kill -0 "$pid" 2>/dev/null || ! ps -o args= -p "$pid" 2>/dev/null | grep -q 'server start-dev'; then
  log "pid $pid is not a running dev server; removing the stale pid file"
  rm -f "$pid_file"; exit 0
fi

kill -TERM "$pid"
for _ in $(seq 1 40); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
if kill -0 "$pid" 2>/dev/null; then
  log "pid $pid ignored SIGTERM for 20 s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
fi
rm -f "$pid_file"
log "stopped pid $pid"
