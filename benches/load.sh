#!/usr/bin/env bash
# Load benchmarks of the runtime against a release build, on this machine (loopback only):
#   1. HTTP resolve, 20 active experiments, a different userId per request (wrk -t2 -c64)
#   1b-1d. OpenFeature (OFREP) on the same setup: one flag, every flag (20), and the bulk
#      route answered 304 by its ETag
#   2. single events with durable acknowledgement, 64 concurrent clients
#   3. batch ingestion (1,000 events a request) sustained, against raw COPY of the same rows
# Usage: bash benches/load.sh [seconds] [resolve|ofrep|events|batch]   (default 30; batch
# ingestion runs 2x that; "ofrep" runs phase 1 and the OpenFeature phases, the figures
# BENCHMARKS.md compares); VERDICT_BIN=path measures that server binary instead of this
# checkout's.
# Prints the figures BENCHMARKS.md records. Uses the private cluster of .ci/ (or DATABASE_URL).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../.ci/lib.sh"
cd "$ROOT"
use_build_flags
SECS="${1:-30}"
ONLY="${2:-all}"   # "resolve" runs phase 1 only, "ofrep" phases 1 to 1d, "events" phase 2 only, "batch" phases 3 and 3b only
command -v wrk >/dev/null || apt_install wrk
if [ -z "${DATABASE_URL:-}" ]; then start_private_postgres verdict; fi
BENCH_URL="$(database_url_for "$DATABASE_URL" verdict_bench)"
# VERDICT_ADMIN_DB: the database to issue them from (on Citus, one with the extension, which
# then makes and drops the database on the workers too: benches/citus.sh).
psql "$(database_url_for "$DATABASE_URL" "${VERDICT_ADMIN_DB:-postgres}")" -q -c "drop database if exists verdict_bench with (force)" -c "create database verdict_bench"

# VERDICT_BIN=… measures another build of the server (e.g. an older commit's, for a same-run
# comparison); by default this checkout's, built first.
if [ -n "${VERDICT_BIN:-}" ]; then
  BIN="$VERDICT_BIN"
else
  say "building the release server"
  cargo build --release --features ssr --bin verdict -q
  BIN=./target/release/verdict
fi
DATABASE_URL="$BENCH_URL" $BIN migrate >/dev/null
TOKEN="$(DATABASE_URL="$BENCH_URL" $BIN token create --role super_admin --label bench | tail -n 1)"
# The hot path's own kind of token: a service token of the tenant.
SERVICE="$(DATABASE_URL="$BENCH_URL" $BIN token create --role service --tenant acme --label bench | tail -n 1)"
PORT="$(free_port)"
BASE="http://127.0.0.1:$PORT"
SERVER=""
# Each phase gets a fresh server, so the previous phase's background work (exposure
# bookkeeping catching up) does not weigh on it; and a vacuumed, analysed, checkpointed
# database, so PostgreSQL's own (autovacuum of the million rows the last phase wrote, dirty
# pages written back) does not either.
start_server() {
  DATABASE_URL="$BENCH_URL" LEPTOS_SITE_ADDR="127.0.0.1:$PORT" RUST_LOG=warn $BIN serve &
  SERVER=$!
  until curl -sf "$BASE/healthz" >/dev/null; do sleep 0.2; done
  sleep 1
}
stop_server() {
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  psql "$BENCH_URL" -q -c "vacuum (analyze)" -c "checkpoint"
}
trap 'kill $SERVER 2>/dev/null || true' EXIT
start_server

H=(-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json")
types=(context_template prompt model_selection intent_classification grounding_threshold)
FIRST=""
for i in $(seq 0 19); do
  tenant=$([ "$i" -lt 12 ] && echo acme || echo system)
  intents=$([ $((i % 4)) -eq 0 ] && echo '"intents": ["risk", "summary"]' || echo '')
  body=$(cat <<JSON
{"tenantId": "$tenant", "name": "bench $i", "targetType": "${types[$((i % 5))]}", "targetId": "target-$i",
 "control": {"name": "A", "configuration": {"templateId": "control-template", "temperature": 0.2}},
 "treatment": {"name": "B", "configuration": {"templateId": "treatment-template", "temperature": 0.4}},
 "allocation": {"control": 50, "treatment": 50}, "targeting": {$intents},
 "primaryMetric": "quality",
 "successCriteria": {"metric": "quality", "operator": ">", "threshold": 5, "confidenceLevel": 0.95},
 "minDuration": 7, "minSamplesPerVariant": 1000}
JSON
)
  id=$(curl -sf "${H[@]}" -X POST "$BASE/api/v1/admin/insights/experiments" -d "$body" | python3 -c 'import json,sys; print(json.load(sys.stdin)["experimentId"])')
  curl -sf "${H[@]}" -X POST "$BASE/api/v1/admin/insights/experiments/$id/start" >/dev/null
  # Events go to experiment 1: it has no intent targeting, so every user is in it.
  [ "$i" -eq 1 ] && FIRST="$id"
done
sleep 1
curl -s "$BASE/healthz"; echo

export VERDICT_TOKEN="$SERVICE" VERDICT_EXPERIMENT="$FIRST"
if [ "$ONLY" = all ] || [ "$ONLY" = resolve ] || [ "$ONLY" = ofrep ]; then
say "1. HTTP resolve: wrk -t2 -c64 -d${SECS}s --latency"
wrk -t2 -c64 -d"${SECS}s" --latency -s benches/resolve.lua "$BASE" | tee /tmp/verdict-bench-resolve.txt

curl -s "$BASE/healthz"; echo
[ "$ONLY" = resolve ] && exit 0
stop_server; start_server
fi
if [ "$ONLY" = all ] || [ "$ONLY" = ofrep ]; then
say "1b. OFREP, one flag (prompt:target-1) per request: wrk -t2 -c64 -d${SECS}s --latency"
wrk -t2 -c64 -d"${SECS}s" --latency -s benches/ofrep.lua "$BASE" | tee /tmp/verdict-bench-ofrep.txt
stop_server; start_server
say "1c. OFREP bulk, every flag (20) per request: wrk -t2 -c64 -d${SECS}s --latency"
wrk -t2 -c64 -d"${SECS}s" --latency -s benches/ofrep_bulk.lua "$BASE" | tee /tmp/verdict-bench-ofrep-bulk.txt
stop_server; start_server
OFREP_BODY='{"context":{"targetingKey":"user-etag","intent":"risk"}}'
ETAG="$(curl -s -D - -o /dev/null -H "Authorization: Bearer $SERVICE" -H "Content-Type: application/json" \
  -X POST "$BASE/ofrep/v1/evaluate/flags" -d "$OFREP_BODY" | tr -d '\r' | awk 'tolower($1) == "etag:" {print $2}')"
status="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $SERVICE" -H "Content-Type: application/json" \
  -H "If-None-Match: $ETAG" -X POST "$BASE/ofrep/v1/evaluate/flags" -d "$OFREP_BODY")"
[ "$status" = 304 ] || die "the bulk route answered $status to its own ETag, not 304"
say "1d. OFREP bulk answered 304 (If-None-Match: its ETag): wrk -t2 -c64 -d${SECS}s --latency"
VERDICT_ETAG="$ETAG" wrk -t2 -c64 -d"${SECS}s" --latency -s benches/ofrep_bulk.lua "$BASE" | tee /tmp/verdict-bench-ofrep-304.txt
curl -s "$BASE/healthz"; echo
[ "$ONLY" = ofrep ] && exit 0
stop_server; start_server
fi
if [ "$ONLY" = all ] || [ "$ONLY" = events ]; then
say "2. single events, durable ack: wrk -t2 -c64 -d${SECS}s --latency"
wrk -t2 -c64 -d"${SECS}s" --latency -s benches/event.lua "$BASE" | tee /tmp/verdict-bench-event.txt
curl -s "$BASE/healthz"; echo
[ "$ONLY" = events ] && exit 0
fi

stop_server; start_server
say "3. batch ingestion (1,000 events a request, 50 bodies of different users), wrk -t2 -c8 -d$((SECS * 2))s"
BATCH_FILE=$(mktemp)
python3 - "$FIRST" > "$BATCH_FILE" <<'PY'
import json, sys
exp = sys.argv[1]
# 50 bodies of 1,000 events, each body its own 1,000 users (50,000 users in all).
for b in range(50):
    events = [{"experimentId": exp, "userId": f"batch-user-{b}-{i}", "tenantId": "acme",
               "eventType": "feedback",
               "metrics": {"quality": 0.8, "latency": 1000 + i, "tokensUsed": 900, "cost": 0.004,
                           "userSatisfaction": "positive"}} for i in range(1000)]
    print(json.dumps({"events": events}))
PY
before=$(psql "$BENCH_URL" -tAc "select count(*) from events")
VERDICT_BATCH_FILE="$BATCH_FILE" wrk -t2 -c8 -d"$((SECS * 2))s" --latency -s benches/batch.lua "$BASE" | tee /tmp/verdict-bench-batch.txt
after=$(psql "$BENCH_URL" -tAc "select count(*) from events")
# The per-user rollups are folded from the events in the background: the ingestion is only
# done when the fold has caught up, so the rate counts the time that took too.
UNFOLDED="select count(*) from ingest_streams s join events e
    on e.fold_key > (s.stream << 40) + s.folded_through and e.fold_key < (s.stream + 1) << 40"
lag_start=$(date +%s.%N)
lag=$(psql "$BENCH_URL" -tAc "$UNFOLDED")
echo "events not folded yet when the load ended: $lag"
while [ "$(psql "$BENCH_URL" -tAc "$UNFOLDED")" != 0 ]; do sleep 0.2; done
lag_end=$(date +%s.%N)
elapsed=$(grep -oE 'requests in [0-9.]+[a-z]+' /tmp/verdict-bench-batch.txt | grep -oE '[0-9.]+[a-z]+$')
python3 - "$before" "$after" "$elapsed" "$lag_start" "$lag_end" <<'PY'
import sys, re
before, after, elapsed = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
catch_up = float(sys.argv[5]) - float(sys.argv[4])
v, unit = re.match(r'([0-9.]+)([a-z]+)', elapsed).groups()
secs = float(v) * {"s": 1, "m": 60, "ms": 0.001}[unit]
n = after - before
print(f"batch ingestion: {n} events stored in {secs:.1f} s = {n / secs:,.0f} events/s")
print(f"the fold caught up {catch_up:.1f} s later: {n / (secs + catch_up):,.0f} events/s stored and folded")
open("/tmp/verdict-bench-batch-rate", "w").write(str(n / (secs + catch_up)))
PY

say "3b. raw COPY of the same rows into the same table"
stop_server
ROWS=1000000
CSV=$(mktemp)
psql "$BENCH_URL" -tAc "select assignment_id, variant from events where experiment_id = '$FIRST' limit 1" > /tmp/verdict-bench-asg
python3 - "$FIRST" "$ROWS" "$(cat /tmp/verdict-bench-asg)" > "$CSV" <<'PY'
import sys, uuid, time, os
exp, rows, asg = sys.argv[1], int(sys.argv[2]), sys.argv[3]
assignment, variant = asg.split("|")
out = sys.stdout
ts = "2026-11-27T10:00:00Z"
for i in range(rows):
    # uuid7-like time-ordered ids, as the pipeline writes
    t = int(time.time() * 1000) + i // 1000
    rid = uuid.UUID(int=(t << 80) | (0x7 << 76) | (int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)) | (0x2 << 62))
    # fold_key as a writer's stream numbers its events (a stream of its own, past any real one)
    fold_key = (1 << 62) + i + 1
    out.write(f"{rid},{exp},acme,copy-user-{i % 50000},{assignment},{variant},feedback,0.8,{1000 + i % 1000},900,0.004,positive,{{}},{ts},{fold_key}\n")
PY
start=$(date +%s.%N)
psql "$BENCH_URL" -q -c "\\copy events (id, experiment_id, tenant_id, user_id, assignment_id, variant, event_type, quality, latency_ms, tokens_used, cost, user_satisfaction, custom_metrics, ts, fold_key) from '$CSV' with (format csv)"
end=$(date +%s.%N)
python3 - "$start" "$end" "$ROWS" <<'PY'
import sys
start, end, rows = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
copy = rows / (end - start)
batch = float(open("/tmp/verdict-bench-batch-rate").read())
print(f"raw COPY: {rows:,} rows in {end - start:.1f} s = {copy:,.0f} rows/s")
print(f"batch ingestion (stored and folded) / COPY = {batch / copy:.2f}")
PY
rm -f "$CSV" "$BATCH_FILE"
