#!/usr/bin/env bash
# Server render time of the UI's pages (see benches/render.rs): a fresh database in the
# private cluster of .ci/ (or DATABASE_URL's server), then the benchmark in release mode.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../.ci/lib.sh"
cd "$ROOT"
use_build_flags
if [ -z "${DATABASE_URL:-}" ]; then start_private_postgres verdict; fi
BENCH_URL="$(database_url_for "$DATABASE_URL" verdict_render_bench)"
# VERDICT_ADMIN_DB: the database to issue them from (on Citus, one with the extension, which
# then makes and drops the database on the workers too: benches/citus.sh).
psql "$(database_url_for "$DATABASE_URL" "${VERDICT_ADMIN_DB:-postgres}")" -q -c "drop database if exists verdict_render_bench with (force)" -c "create database verdict_render_bench"
DATABASE_URL="$BENCH_URL" cargo bench --bench render --features ssr
