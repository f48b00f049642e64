#!/usr/bin/env bash
# Results at scale (see benches/results.rs): a fresh database in the private cluster of .ci/
# (or DATABASE_URL's server), then the benchmark in release mode.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../.ci/lib.sh"
cd "$ROOT"
use_build_flags
if [ -z "${DATABASE_URL:-}" ]; then start_private_postgres verdict; fi
BENCH_URL="$(database_url_for "$DATABASE_URL" verdict_results_bench)"
# VERDICT_ADMIN_DB: the database to issue them from (on Citus, one with the extension, which
# then makes and drops the database on the workers too: benches/citus.sh).
psql "$(database_url_for "$DATABASE_URL" "${VERDICT_ADMIN_DB:-postgres}")" -q -c "drop database if exists verdict_results_bench with (force)" -c "create database verdict_results_bench"
DATABASE_URL="$BENCH_URL" cargo bench --bench results --features ssr
