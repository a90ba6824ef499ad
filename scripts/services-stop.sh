#!/usr/bin/env bash
# `npm run services:stop`: stops the Temporal dev server and Postgres that `npm run demo` left running.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash temporal/stop-dev.sh --data-dir data/temporal || true
node node_modules/tsx/dist/cli.mjs scripts/services/postgres.ts stop --dir data/postgres || true
