#!/usr/bin/env bash
# The results page of an eight-arm experiment against a two-arm one, each with 1,000,000
# events from 100,000 users (the rollups of benches/render.rs, made with SQL), served by a
# release binary over loopback: median and p95 of N sequential GETs each, alternated.
#   VERDICT_BIN  the binary (default ./target/release/verdict)   N  requests (default 100)
# (benches/render.rs measures the same pages in-process with `cargo bench`; this needs only
# the release build the end-to-end tests use.)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../.ci/lib.sh"
cd "$ROOT"
BIN="${VERDICT_BIN:-./target/release/verdict}"
N="${N:-100}"
if [ -z "${DATABASE_URL:-}" ]; then start_private_postgres verdict; fi
url="$(database_url_for "$DATABASE_URL" verdict_render_arms)"
psql "$(database_url_for "$DATABASE_URL" postgres)" -q -c "drop database if exists verdict_render_arms with (force)" -c "create database verdict_render_arms"
DATABASE_URL="$url" "$BIN" migrate >/dev/null
token="$(DATABASE_URL="$url" "$BIN" token create --role super_admin --label render-arms | tail -n 1)"
log="$(mktemp)"
VERDICT_BIN_SAVED="$BIN"
port="$(free_port)"
DATABASE_URL="$url" LEPTOS_SITE_ADDR="127.0.0.1:$port" LEPTOS_SITE_ROOT=target/site RUST_LOG=warn "$BIN" serve >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 1 200); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done

# $1 name, $2 JSON arms+allocation fragment; prints the experiment's id (started).
make() {
  local id
  id="$(curl -sf -H "Authorization: Bearer $token" -H 'content-type: application/json' \
    "$base/api/v1/admin/insights/experiments" -d "{\"tenantId\":\"acme\",\"name\":\"$1\",
      \"description\":\"render bench\",\"hypothesis\":\"h\",\"targetType\":\"context_template\",
      \"targetId\":\"$1\",$2,\"primaryMetric\":\"quality\",
      \"successCriteria\":{\"metric\":\"quality\",\"operator\":\">\",\"threshold\":5,\"confidenceLevel\":0.95},
      \"secondaryMetrics\":[\"latency\",\"cost\"],\"minDuration\":7,\"minSamplesPerVariant\":1000}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["experimentId"])')"
  curl -sf -X POST -H "Authorization: Bearer $token" "$base/api/v1/admin/insights/experiments/$id/start" >/dev/null
  echo "$id"
}
two="$(make two-arms '"control":{"name":"Current","configuration":{"templateId":"v1"}},"treatment":{"name":"With history","configuration":{"templateId":"v2"}},"allocation":{"control":50,"treatment":50}')"
eight="$(make eight-arms "\"variants\":[$(for k in control b c d e f g h; do printf '{"key":"%s","name":"Template %s","configuration":{"templateId":"%s"}},' $k $k $k; done | sed 's/,$//')],\"allocation\":{$(for k in control b c d e f g h; do printf '"%s":12,' $k; done | sed 's/,$//')}")"

fill() {
  psql "$url" -q -v ON_ERROR_STOP=1 -v id="$1" -v arms="$2" <<'SQL'
insert into user_metrics (experiment_id, tenant_id, user_id, variant, events, errors,
    quality_n, quality_sum, latency_n, latency_sum, tokens_n, tokens_sum, cost_n,
    cost_sum, positive, negative, neutral, first_ts, last_ts)
select :'id', 'acme', 'user-' || g, (:'arms'::text[])[1 + g % cardinality(:'arms'::text[])],
    10, (random() * 0.3)::int, 10, 10 * (0.6 + 0.05 * (g % 2) + random() * 0.2),
    10, 10 * 1000 * exp(random()), 10, 10 * (800 + random() * 400), 10,
    10 * 0.004 * (0.5 + random()), (random() * 3)::int, (random() * 2)::int,
    (random() * 2)::int, now() - interval '7 days', now()
from generate_series(1, 100000) g;
insert into daily_metrics (experiment_id, day, variant, events, quality_n, quality_mean,
    quality_m2, latency_n, latency_mean, latency_m2)
select :'id', current_date - d, v, 71428 / cardinality(:'arms'::text[]),
    71428 / cardinality(:'arms'::text[]), 0.65 + random() * 0.05, 357.14,
    71428 / cardinality(:'arms'::text[]), 1500, 35714 * 250000.0
from generate_series(0, 13) d, unnest(:'arms'::text[]) v;
SQL
}
fill "$two" '{control,treatment}'
fill "$eight" '{control,b,c,d,e,f,g,h}'
psql "$url" -q -c analyze
# The background job recomputes live experiments' snapshots every 10 s: wait for both.
for id in "$two" "$eight"; do
  for _ in $(seq 1 120); do
    n="$(curl -sf -H "Authorization: Bearer $token" "$base/api/v1/admin/insights/experiments/$id/results" \
      | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["control"]["samples"])' 2>/dev/null || echo 0)"
    [ "$n" -gt 0 ] && break
    sleep 1
  done
done

get() { curl -s -o /dev/null -w '%{time_total} %{size_download}\n' -H "Authorization: Bearer $token" -H 'accept: text/html' "$base/experiments/$1"; }
for _ in 1 2 3 4 5; do get "$two" >/dev/null; get "$eight" >/dev/null; done
: >/tmp/render_arms.two; : >/tmp/render_arms.eight
for _ in $(seq 1 "$N"); do get "$two" >>/tmp/render_arms.two; get "$eight" >>/tmp/render_arms.eight; done
for f in two eight; do
  python3 - "/tmp/render_arms.$f" "$f" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
t = sorted(float(r[0]) * 1000 for r in rows)
print(f"{sys.argv[2]} arms: median {t[len(t)//2]:.1f} ms, p95 {t[len(t)*95//100]:.1f} ms, {int(rows[-1][1])/1024:.0f} KiB of HTML")
PY
done
