#!/usr/bin/env bash
# Benchmarks of the hardening (issue: no tenant can hurt another), against a release build on
# this machine (loopback only):
#   A. the server's peak memory (VmHWM) while a viewer token floods the batch route and the
#      create server function with maximal bodies, and a service token the batch route with
#      bodies past its limit;
#   B. the p99 of an admin read (GET …/experiments, 2 connections) alone, then during a flood
#      of bogus tokens on /resolve: malformed ones, then new well-formed ones (each looked up).
# Usage: bash benches/hardening.sh [seconds]   (default 20)   VERDICT_BIN=… to measure
# another build of the server (default ./target/release/verdict, built when missing).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../.ci/lib.sh"
cd "$ROOT"
use_build_flags
SECS="${1:-20}"
command -v wrk >/dev/null || apt_install wrk
if [ -z "${DATABASE_URL:-}" ]; then start_private_postgres verdict; fi
BENCH_URL="$(database_url_for "$DATABASE_URL" verdict_bench_hardening)"
psql "$(database_url_for "$DATABASE_URL" postgres)" -q -c "drop database if exists verdict_bench_hardening with (force)" -c "create database verdict_bench_hardening"
BIN="${VERDICT_BIN:-./target/release/verdict}"
[ -x "$BIN" ] || cargo build --release --features ssr --bin verdict -q
DATABASE_URL="$BENCH_URL" $BIN migrate >/dev/null
DATABASE_URL="$BENCH_URL" $BIN demo >/dev/null
tok() { DATABASE_URL="$BENCH_URL" $BIN token create "$@" --label bench | tail -n 1; }
VIEWER="$(tok --role viewer --tenant acme)"
SERVICE="$(tok --role service --tenant acme)"
ADMIN="$(tok --role admin --tenant acme)"
PORT="$(free_port)"
BASE="http://127.0.0.1:$PORT"
DATABASE_URL="$BENCH_URL" LEPTOS_SITE_ADDR="127.0.0.1:$PORT" LEPTOS_SITE_ROOT=target/site RUST_LOG=error $BIN serve &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
until curl -sf "$BASE/healthz" >/dev/null; do sleep 0.2; done
sleep 1
mem() { awk -v k="$1" '$1 == k":" {printf "%.0f MiB", $2 / 1024}' /proc/$SERVER/status; }
echo "server at rest: VmRSS $(mem VmRSS), VmHWM $(mem VmHWM)"

say "A. maximal bodies, wrk -t2 -c32 -d${SECS}s each"
for run in "viewer /api/v1/insights/events/batch $VIEWER 16777216" \
           "viewer /api/fn/create_experiment $VIEWER 16777216" \
           "service /api/v1/insights/events/batch $SERVICE 20971520"; do
  set -- $run
  VERDICT_PATH="$2" VERDICT_TOKEN="$3" VERDICT_BODY_BYTES="$4" \
    wrk -t2 -c32 -d"${SECS}s" -s benches/big_body.lua "$BASE" > /tmp/verdict-bench-big.txt 2>&1 || true
  echo "$1 → $2, $(( $4 / 1048576 )) MiB bodies: $(grep -oE '[0-9.]+ requests in [^,]+' /tmp/verdict-bench-big.txt | head -n 1);" \
       "answers $(grep -oE 'Non-2xx or 3xx responses: [0-9]+' /tmp/verdict-bench-big.txt || echo 'all 2xx');" \
       "server VmHWM so far $(mem VmHWM)"
done

say "B. an admin read's latency, alone and under a flood of bogus tokens"
admin_read() {
  VERDICT_TOKEN="$ADMIN" wrk -t1 -c2 -d"${SECS}s" --latency -H "Authorization: Bearer $ADMIN" \
    "$BASE/api/v1/admin/insights/experiments" > /tmp/verdict-bench-admin.txt
  printf 'admin read: %s req/s, p50 %s, p99 %s\n' \
    "$(awk '/Requests\/sec/ {print $2}' /tmp/verdict-bench-admin.txt)" \
    "$(awk '$1 == "50%" {print $2}' /tmp/verdict-bench-admin.txt)" \
    "$(awk '$1 == "99%" {print $2}' /tmp/verdict-bench-admin.txt)"
}
echo "-- alone"; admin_read
for mode in malformed fresh; do
  echo "-- during a flood of $mode bogus tokens (wrk -t1 -c64 on /resolve)"
  VERDICT_BOGUS="$mode" wrk -t1 -c64 -d"$((SECS + 2))s" -s benches/bogus.lua "$BASE" > /tmp/verdict-bench-flood.txt &
  FLOOD=$!
  sleep 1
  admin_read
  wait $FLOOD || true
  echo "   flood: $(awk '/Requests\/sec/ {print $2}' /tmp/verdict-bench-flood.txt) req/s, $(grep -oE 'Non-2xx or 3xx responses: [0-9]+' /tmp/verdict-bench-flood.txt)"
done
curl -s -H "Authorization: Bearer $(tok --role super_admin)" "$BASE/healthz" | python3 -c 'import json,sys; h=json.load(sys.stdin); print("status", h["status"], "| refused from memory:", h["runtime"]["authRefusedFromMemory"])'
