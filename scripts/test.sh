#!/usr/bin/env bash
# `npm test [-- jest args]`: provisions the Temporal CLI, starts ONE Postgres and ONE Temporal dev
# server on free loopback ports with fresh data under data/test-*, runs jest once against them, stops
# both, and prints `N passed, N failed` as the LAST line (exit 0 only when N failed is 0 and N passed > 0).
#
# Exported to jest: DATABASE_URL (maintenance DB; test files create their own databases),
# TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_CLI_PATH, ARTIFACT_ROOT (empty temp dir).
# Inherited DATABASE_URL / TEMPORAL_ADDRESS are ignored so tests never touch a developer's own data;
# to test against existing servers instead set TEST_DATABASE_URL and/or TEST_TEMPORAL_ADDRESS.
# Service output goes to data/test-*/services.log; the directory is removed after a green run.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# A fresh checkout: install the locked dependencies first (CI has already run npm ci).
if [ ! -d node_modules/@temporalio/worker ]; then
  echo "[test.sh] installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund || { echo "0 passed, 1 failed"; exit 1; }
fi
mkdir -p data
run_dir=$(mktemp -d "$ROOT/data/test-XXXXXX")
# Postgres runs as the `postgres` OS user when we are root: it must be able to enter this directory.
chmod 755 "$run_dir"
services_log="$run_dir/services.log"
results="$run_dir/jest-results.json"
results_wasm="$run_dir/jest-results-wasm.json"
pg_dir="$run_dir/postgres"
temporal_dir="$run_dir/temporal"
tsx=(node "$ROOT/node_modules/tsx/dist/cli.mjs")

say() { echo "[test.sh] $*"; }

# Runs on every exit (normal, error, Ctrl-C): stop what we started, then print the closing line last.
finish() {
  local rc=$?
  trap - EXIT INT TERM
  {
    bash temporal/stop-dev.sh --data-dir "$temporal_dir"
    "${tsx[@]}" scripts/services/postgres.ts stop --dir "$pg_dir"
  } >>"$services_log" 2>&1
  local report_rc=0 line
  if [ -f "$results" ]; then
    local files=("$results")
    [ -f "$results_wasm" ] && files+=("wasm=$results_wasm")
    line=$(node scripts/report-jest.js "${files[@]}") || report_rc=$?
  else
    line="0 passed, 1 failed"
    report_rc=1
  fi
  if [ "$report_rc" -eq 0 ] && [ "${jest_rc:-1}" -eq 0 ]; then
    # Deletes the cluster too where it lives outside run_dir (as root under a private checkout).
    "${tsx[@]}" scripts/services/postgres.ts remove --dir "$pg_dir" >>"$services_log" 2>&1
    rm -rf "$run_dir"
    rc=0
  else
    [ "${jest_rc:-0}" -ne 0 ] && [ "$report_rc" -eq 0 ] && say "jest exited with ${jest_rc} although every test passed"
    say "kept $run_dir (services.log, jest-results.json)"
    rc=1
  fi
  echo "$line"
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A free TCP port on 127.0.0.1, chosen by the kernel (ports are per-run, so parallel runs do not collide).
free_port() { node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close();})"; }

started=$SECONDS
if ! TEMPORAL_CLI_PATH=$(bash temporal/provision.sh 2>>"$services_log"); then
  say "could not provision the Temporal CLI; see $services_log"; tail -n 5 "$services_log"; exit 1
fi
export TEMPORAL_CLI_PATH
say "Temporal CLI: $TEMPORAL_CLI_PATH ($((SECONDS - started)) s)"

unset DATABASE_URL TEMPORAL_ADDRESS
[ -n "${TEST_DATABASE_URL:-}" ] && export DATABASE_URL=$TEST_DATABASE_URL
[ -n "${TEST_TEMPORAL_ADDRESS:-}" ] && export TEMPORAL_ADDRESS=$TEST_TEMPORAL_ADDRESS
export TEMPORAL_NAMESPACE=${TEMPORAL_NAMESPACE:-default}

# Postgres starts in the background while the dev server starts in the foreground.
started=$SECONDS
pg_port=$(free_port)
"${tsx[@]}" scripts/services/postgres.ts start --dir "$pg_dir" --port "$pg_port" --ephemeral >"$run_dir/database-url" 2>>"$services_log" &
pg_job=$!
# A port the kernel called free can be taken by another process before the server binds it
# ("address already in use"): try again on a new port, up to three times.
for attempt in 1 2 3; do
  temporal_port=$(free_port)
  if temporal_out=$(bash temporal/start-dev.sh --port "$temporal_port" --headless --data-dir "$temporal_dir" 2>>"$services_log"); then break; fi
  temporal_out=
  say "the Temporal dev server did not start on port $temporal_port (attempt $attempt of 3)"
done
if [ -z "$temporal_out" ]; then
  wait "$pg_job"
  say "the Temporal dev server did not start; see $services_log"; tail -n 10 "$services_log"; exit 1
fi
export TEMPORAL_ADDRESS=${temporal_out#TEMPORAL_ADDRESS=}
say "Temporal at $TEMPORAL_ADDRESS ($((SECONDS - started)) s)"
if ! wait "$pg_job"; then
  say "Postgres did not start; see $services_log"; tail -n 10 "$services_log"; exit 1
fi
DATABASE_URL=$(tail -n 1 "$run_dir/database-url")
export DATABASE_URL
say "Postgres at ${DATABASE_URL##*@} ($((SECONDS - started)) s)"

export ARTIFACT_ROOT="$run_dir/artifacts"
mkdir -p "$ARTIFACT_ROOT"

# The Temporal Web UI test (test/ui/) drives Debian's headless Chromium: install it when missing and
# possible (a no-op when present; it explains itself and carries on when it cannot install).
if [ "${RLHF_SKIP_UI_TEST:-0}" != "1" ] && [ ! -x /usr/bin/chromium ]; then
  say "installing Debian's chromium for the Web UI test (once)"
  bash scripts/install-chromium.sh >>"$services_log" 2>&1 || true
fi

# Native TensorFlow for every test that trains (cached after the first time). Where it cannot be had the
# suite runs on WASM, as before, and the WASM pass below is not needed.
native=0
if native_line=$(bash scripts/native/provision-tensorflow.sh); then native=1; fi
say "${native_line#\[native\] }"

# The API conformance test (test/api/schemathesis.test.ts) runs schemathesis from a venv under .cache/:
# install it once when possible (it explains itself and carries on when it cannot; the test then skips).
if [ "${RLHF_SKIP_SCHEMATHESIS:-0}" != "1" ]; then
  bash scripts/install-schemathesis.sh >>"$services_log" 2>&1 || say "schemathesis could not be installed (see $services_log); its test will skip"
fi

node "$ROOT/node_modules/jest/bin/jest.js" --ci --json --outputFile="$results" "$@"
jest_rc=$?

# The fallback must not rot: with native present, the ML unit tests and the resume test run once more on
# WASM (RLHF_NATIVE=0 makes ml/backend.ts skip native). The learning tests are left to the native pass (they
# take minutes on either). Not run when jest was given its own arguments (a developer's subset).
if [ "$native" = 1 ] && [ $# -eq 0 ] && [ "${RLHF_SKIP_WASM_PASS:-0}" != "1" ]; then
  say "WASM pass: test/ml without the learning tests"
  RLHF_NATIVE=0 node "$ROOT/node_modules/jest/bin/jest.js" --ci --json --outputFile="$results_wasm" \
    test/ml --testPathIgnorePatterns 'test/ml/learning\.test\.ts' 'test/ml/support-learning/'
  wasm_rc=$?
  [ "$wasm_rc" -ne 0 ] && jest_rc=$wasm_rc
fi
