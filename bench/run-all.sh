#!/usr/bin/env bash
# `npm run bench`: every benchmark of issue 6 in order, each writing its own section of
# bench/RESULTS.md (and bench/plots/*.png). Starts ONE Postgres and ONE Temporal dev server on free
# loopback ports for the benches that need them (as scripts/test.sh does) and stops them at the end.
# Bounded: about 18 minutes on 2 shared cores for the issue-6 benches (trl-compare about 3.5 of them), plus bench/ml.ts's own time. Needs a Python with torch and matplotlib
# (bench/reference/requirements.txt; found in .cache/bench-venv or .cache/hf-venv, or set BENCH_PYTHON).
# `ml` is bench/ml.ts (the ML section, its own engineer's): last, so the issue-6 sections come first.
#   bash bench/run-all.sh [bench ...]      e.g. bash bench/run-all.sh throughput scaling
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
tsx=(node "$ROOT/node_modules/tsx/dist/cli.mjs")
say() { echo "[bench] $*"; }

all=(throughput trl-compare scaling memory checkpoint-cost orchestration recovery api-load ml)
selected=("${@:-${all[@]}}")

mkdir -p data
run_dir=$(mktemp -d "$ROOT/data/bench-run-XXXXXX")
chmod 755 "$run_dir" # Postgres runs as the `postgres` OS user when we are root
services_log="$run_dir/services.log"
started_services=0

stop_services() {
  [ "$started_services" -eq 1 ] || return 0
  bash temporal/stop-dev.sh --data-dir "$run_dir/temporal" >>"$services_log" 2>&1
  "${tsx[@]}" scripts/services/postgres.ts stop --dir "$run_dir/postgres" >>"$services_log" 2>&1
}
finish() {
  local rc=$?
  trap - EXIT INT TERM
  stop_services
  if [ "$rc" -eq 0 ]; then rm -rf "$run_dir"; else say "kept $run_dir (services.log)"; fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

needs_services=0
for b in "${selected[@]}"; do
  case "$b" in orchestration | recovery | api-load) needs_services=1 ;; esac
done

if [ "$needs_services" -eq 1 ] && [ -z "${DATABASE_URL:-}" ]; then
  free_port() { node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close();})"; }
  pg_port=$(free_port)
  temporal_port=$(free_port)
  started_services=1
  "${tsx[@]}" scripts/services/postgres.ts start --dir "$run_dir/postgres" --port "$pg_port" --ephemeral >"$run_dir/database-url" 2>>"$services_log" || {
    say "Postgres did not start; see $services_log"; exit 1
  }
  export DATABASE_URL=$(tail -n 1 "$run_dir/database-url")
  temporal_out=$(bash temporal/start-dev.sh --port "$temporal_port" --headless --data-dir "$run_dir/temporal" 2>>"$services_log") || {
    say "the Temporal dev server did not start; see $services_log"; exit 1
  }
  export TEMPORAL_ADDRESS=${temporal_out#TEMPORAL_ADDRESS=}
  say "services: Postgres ${DATABASE_URL##*@}, Temporal $TEMPORAL_ADDRESS"
fi

failed=()
for b in "${selected[@]}"; do
  t0=$SECONDS
  say "$b ..."
  case "$b" in
    # gc exposed so the memory samples show retained memory, not garbage awaiting collection.
    memory) NODE_OPTIONS="${NODE_OPTIONS:-} --expose-gc" "${tsx[@]}" bench/memory.ts ;;
    # TRL's own PPO trainer needs .cache/trl-venv (~1 min of PyPI downloads to create), so it is not created here.
    trl-compare) if [ -x "${TRL_PYTHON:-.cache/trl-venv/bin/python}" ]; then "${tsx[@]}" bench/trl-compare.ts; else say "trl-compare skipped: no .cache/trl-venv; run bash bench/reference/setup-trl-venv.sh first"; fi ;;
    *) "${tsx[@]}" "bench/$b.ts" ;;
  esac
  rc=$?
  say "$b: exit $rc after $((SECONDS - t0)) s"
  [ "$rc" -eq 0 ] || failed+=("$b")
done

if [ "${#failed[@]}" -gt 0 ]; then
  say "failed: ${failed[*]}"
  exit 1
fi
say "all done; see bench/RESULTS.md"
