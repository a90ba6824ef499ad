#!/usr/bin/env bash
# Starts a local Temporal dev server (`temporal server start-dev`) in the background, persisted to a
# SQLite file, with the two custom search attributes this project needs; waits until it is healthy and
# the attributes are visible; writes a pid file. Stop it with temporal/stop-dev.sh.
#
# Options (flag, else environment variable, else default):
#   --port P        TEMPORAL_PORT, else the port of $TEMPORAL_ADDRESS, else 7233   (frontend gRPC)
#   --ui-port U     TEMPORAL_UI_PORT, else P+1000 (the CLI's own default)          (Web UI)
#   --headless      TEMPORAL_HEADLESS=1: no Web UI (tests)
#   --data-dir D    TEMPORAL_DATA_DIR, else data/temporal: holds dev.db, dev.pid and dev.log
#   --namespace N   TEMPORAL_NAMESPACE, else default
# If $TEMPORAL_ADDRESS already answers a health check, nothing is started (exit 0).
# Prints TEMPORAL_ADDRESS=host:port on stdout when ready; progress goes to stderr.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { echo "[temporal/start-dev] $*" >&2; }

port=${TEMPORAL_PORT:-}
ui_port=${TEMPORAL_UI_PORT:-}
headless=${TEMPORAL_HEADLESS:-0}
data_dir=${TEMPORAL_DATA_DIR:-$ROOT/data/temporal}
namespace=${TEMPORAL_NAMESPACE:-default}
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port=$2; shift 2 ;;
    --ui-port) ui_port=$2; shift 2 ;;
    --headless) headless=1; shift ;;
    --data-dir) data_dir=$2; shift 2 ;;
    --namespace) namespace=$2; shift 2 ;;
    *) log "unknown option $1"; exit 2 ;;
  esac
done

cli=$(bash "$ROOT/temporal/provision.sh")

# healthy ADDRESS: the frontend answers SERVING (bounded, so a half-open port cannot hang us).
healthy() { "$cli" operator cluster health --address "$1" --command-timeout 10s 2>/dev/null | grep -q SERVING; }

# has_search_attributes ADDRESS: both custom attributes are registered on the namespace.
has_search_attributes() {
  local listed
  listed=$("$cli" operator search-attribute list --address "$1" --namespace "$namespace" --command-timeout 10s 2>/dev/null) || return 1
  grep -qw AgentId <<<"$listed" && grep -qw RunPhase <<<"$listed"
}

if [ -n "${TEMPORAL_ADDRESS:-}" ] && healthy "$TEMPORAL_ADDRESS"; then
  log "using the server already at $TEMPORAL_ADDRESS"
  echo "TEMPORAL_ADDRESS=$TEMPORAL_ADDRESS"
  exit 0
fi
if [ -z "$port" ]; then
  if [ -n "${TEMPORAL_ADDRESS:-}" ]; then port=${TEMPORAL_ADDRESS##*:}; else port=7233; fi
fi
address="127.0.0.1:$port"

mkdir -p "$data_dir"
pid_file="$data_dir/dev.pid"
log_file="$data_dir/dev.log"
if [ -s "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
  log "a dev server from $pid_file (pid $(cat "$pid_file")) is still running; stop it first: temporal/stop-dev.sh --data-dir $data_dir"
  exit 1
fi

# Eager activity execution: a workflow worker that schedules an activity on its own task queue gets the
# activity task in the reply to its workflow task, saving a round trip per data activity (measured in
# bench/RESULTS.md section 1). Production clusters enable it the same way (temporal/README.md).
args=(server start-dev --ip 127.0.0.1 --port "$port" --db-filename "$data_dir/dev.db" --log-level warn
  --search-attribute AgentId=Keyword --search-attribute RunPhase=Keyword
  --dynamic-config-value system.enableActivityEagerExecution=true)
if [ "$namespace" != default ]; then args+=(--namespace "$namespace"); fi
if [ "$headless" = 1 ]; then args+=(--headless); elif [ -n "$ui_port" ]; then args+=(--ui-port "$ui_port"); fi

started=$SECONDS
# setsid: the server gets its own session, so a Ctrl-C aimed at the caller's jobs reaches it only
# through stop-dev.sh, which lets it close the SQLite file cleanly.
# (setsid is Linux's util-linux; elsewhere nohup at least detaches it from the terminal's hang-up.)
if command -v setsid >/dev/null 2>&1; then detach=(setsid); else detach=(nohup); fi
"${detach[@]}" "$cli" "${args[@]}" >"$log_file" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$pid_file"
log "started pid $pid on $address (log $log_file)"

deadline=$((SECONDS + ${TEMPORAL_START_TIMEOUT_S:-120}))
until healthy "$address" && has_search_attributes "$address"; do
  if ! kill -0 "$pid" 2>/dev/null; then
    log "the dev server exited during start-up; last log lines:"; tail -n 20 "$log_file" >&2
    rm -f "$pid_file"; exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    log "not healthy after ${TEMPORAL_START_TIMEOUT_S:-120} s; stopping it. Last log lines:"; tail -n 20 "$log_file" >&2
    bash "$ROOT/temporal/stop-dev.sh" --data-dir "$data_dir" || true
    exit 1
  fi
  sleep 0.5
done
log "healthy in $((SECONDS - started)) s; search attributes AgentId, RunPhase registered on '$namespace'"
echo "TEMPORAL_ADDRESS=$address"
