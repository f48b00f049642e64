#!/usr/bin/env bash
# Verdict on one PostgreSQL against Verdict on a local Citus cluster (a coordinator and two
# workers, .ci/citus), on the same machine in the same run (docs/SCALING.md, "Measured"):
#   ingest   single events (durable ack) and batch ingestion: benches/load.sh events, batch
#   results  a full results recompute of 1M and 10M events (benches/results.sh)
#   render   the UI pages' server render, the dashboard among them (benches/render.sh)
#   explain  EXPLAIN of the per-user rollup read and the per-day series on Citus
#   restart  a worker restarted (fast shutdown, start) under ingestion load, three times:
#            every acknowledged event is stored and folded, and Verdict goes on unattended
#            (Citus only; the test tests/api/faults.rs runs in .ci/test too)
# Usage: bash benches/citus.sh [seconds] [phase...]   (default 20 s per load phase, every
# phase); VERDICT_TARGETS=citus (or plain) measures one side only, VERDICT_BIN=… that server
# binary. Needs Citus installed (docs/SCALING.md); the outputs go to $DATA_DIR/citus-bench.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../.ci/lib.sh"
cd "$ROOT"
use_build_flags
SECS="${1:-20}"
shift || true
PHASES=("${@:-ingest results render explain restart}")
PHASES=(${PHASES[*]})
bash .ci/citus installed || die "Citus is not installed: see docs/SCALING.md"
OUT="$DATA_DIR/citus-bench"
mkdir -p "$OUT"

start_private_postgres verdict >/dev/null
PLAIN_URL="$DATABASE_URL"
CITUS_URL="$(bash .ci/citus start verdict verdict_test | tail -n 1)"
unset DATABASE_URL
# Which of the two to measure (both by default, one after the other for each phase).
TARGETS=(${VERDICT_TARGETS:-plain citus})

has() { local p; for p in "${PHASES[@]}"; do [ "$p" = "$1" ] && return 0; done; return 1; }

# Runs benchmark script $3… against the server of URL $2 ("plain" or "citus" as $1), output
# to $OUT/$1-<name>.txt. On Citus the bench databases are made from `verdict`, which has the
# extension: the coordinator then makes them on the workers too.
bench() {
  local label="$1" url="$2" name="$3"
  shift 3
  local admin=postgres
  [ "$label" = citus ] && admin=verdict
  say "$label: $name"
  DATABASE_URL="$url" VERDICT_ADMIN_DB="$admin" "$@" 2>&1 | tee "$OUT/$label-$name.txt"
}

url_of() { if [ "$1" = citus ]; then echo "$CITUS_URL"; else echo "$PLAIN_URL"; fi; }

# The phases built by `cargo bench` first, then those of the release server: cargo builds the
# library again for each of the two, so alternating them would rebuild it every time.
for target in "${TARGETS[@]}"; do
  if has results; then bench "$target" "$(url_of "$target")" results bash benches/results.sh; fi
  if has render; then bench "$target" "$(url_of "$target")" render bash benches/render.sh; fi
done
if has ingest; then
  # VERDICT_BIN=… measures that server binary, unbuilt (as benches/load.sh does).
  if [ -z "${VERDICT_BIN:-}" ]; then
    say "building the release server"
    cargo build --release --features ssr --bin verdict -q
  fi
  export VERDICT_BIN="${VERDICT_BIN:-./target/release/verdict}"
  for target in "${TARGETS[@]}"; do
    bench "$target" "$(url_of "$target")" events bash benches/load.sh "$SECS" events
    bench "$target" "$(url_of "$target")" batch bash benches/load.sh "$SECS" batch
  done
fi

if has explain; then
  say "EXPLAIN on Citus: the per-user rollup read and the per-day series of the 10M-event experiment"
  db="$(database_url_for "$CITUS_URL" verdict_results_bench)"
  id="$(psql "$db" -tAc "select id from experiments order by created_at desc limit 1" || true)"
  [ -n "$id" ] || die "no results bench database on the cluster: run the results phase first"
  {
    echo "-- the per-user rollups (store::results::user_rows, nothing unfolded)"
    psql "$db" -c "explain (costs off) select variant, mixed, events, errors, quality_n, quality_sum
        from user_metrics where experiment_id = '$id'"
    echo "-- the same with the events not folded yet summed in (store::results::user_rows)"
    psql "$db" -c "explain (costs off) with pending as materialized (
          select e.tenant_id, e.user_id, min(e.variant) as variant, count(*) as events
          from ingest_streams s cross join lateral (
              select * from events where fold_key > (s.stream << 40) + s.folded_through
                and fold_key < ((s.stream + 1) << 40) and experiment_id = '$id'
              order by fold_key offset 0) e
          group by e.tenant_id, e.user_id)
        select m.variant, m.events from user_metrics m where experiment_id = '$id'
          and not exists (select from pending p where p.tenant_id = m.tenant_id and p.user_id = m.user_id)
        union all
        select p.variant, p.events + coalesce(m.events, 0) from pending p left join user_metrics m
          on m.experiment_id = '$id' and m.tenant_id = p.tenant_id and m.user_id = p.user_id"
    echo "-- the per-day series (store::results::day_rows)"
    psql "$db" -c "explain (costs off) select day, variant, quality_n, quality_mean, quality_m2
        from daily_metrics where experiment_id = '$id' order by day, variant"
    echo "-- the dashboard's list (store::experiments::list): coordinator-local tables only"
    psql "$db" -c "explain (costs off) select e.id, s.body -> 'control' ->> 'samples'
        from experiments e left join result_snapshots s on s.experiment_id = e.id
        order by e.created_at desc, e.id desc limit 50"
  } 2>&1 | tee "$OUT/citus-explain.txt"
fi

if has restart; then
  say "Citus: worker 1 restarted (fast shutdown, 3 s down, start) under ingestion load"
  # The integration test that does it (tests/api/faults.rs), against the cluster.
  start_restartable_postgres
  for run in 1 2 3; do
    DATABASE_URL="$(database_url_for "$CITUS_URL" verdict_test)" \
      VERDICT_CITUS_WORKER_PGDATA="$DATA_DIR/citus/worker1" \
      cargo test --features ssr --test api -- --nocapture citus_worker_restart_under_load
  done 2>&1 | tee "$OUT/citus-restart.txt"
fi

say "outputs in $OUT"
grep -hE "Requests/sec|events stored|stored and folded|raw COPY|full recompute|serving the stored|dashboard|restart: took" \
  "$OUT"/*.txt || true
