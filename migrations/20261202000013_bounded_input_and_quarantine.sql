-- Hardening: every stored number bounded, idempotency keys per tenant, a quarantine for what
-- the fold cannot fold, token expiry, and who created an experiment by token.
--
-- The bounds are those of `domain::limits` (docs/API.md, "Limits"): with them no sum or merge
-- Verdict computes can overflow a float8. The constraints are NOT VALID: rows stored before
-- this migration are kept as they are (nothing stored is lost); every row written from now
-- on is checked. What older rows hold that the fold cannot sum is quarantined by the fold.

alter table events
    add constraint events_latency_bounded check (latency_ms <= 86400000) not valid,
    add constraint events_tokens_bounded check (tokens_used <= 100000000) not valid,
    add constraint events_cost_bounded check (cost <= 1000000) not valid,
    add constraint events_custom_metrics_bounded check (
        custom_metrics = '{}'::jsonb
        or not jsonb_path_exists(custom_metrics,
            '$.* ? (@.type() != "number" || @ > 1000000000 || @ < -1000000000)')
    ) not valid,
    add constraint events_scope_bounded check (scope is null or pg_column_size(scope) <= 16384) not valid,
    add constraint events_texts_bounded check (
        length(tenant_id) <= 200 and length(user_id) <= 1000
        and coalesce(length(idempotency_key), 0) <= 200 and coalesce(length(intent), 0) <= 200
        and coalesce(length(insight_id), 0) <= 200 and coalesce(length(conversation_id), 0) <= 200
    ) not valid;

alter table daily_metrics
    add constraint daily_metrics_bounded check (
        quality_mean between 0 and 1 and latency_mean between 0 and 86400000
        and quality_m2 >= 0 and latency_m2 >= 0
    ) not valid;

-- Daily rows that out-of-bound events of before made unmergeable (a mean or M2 no later
-- merge can take without overflowing) are made again from their in-bound events.
create temporary table poisoned_days on commit drop as
    select distinct experiment_id, day, variant from daily_metrics
    where not (quality_mean between 0 and 1 and latency_mean between 0 and 86400000
               and quality_m2 between 0 and 1e30 and latency_m2 between 0 and 1e30);
delete from daily_metrics d using poisoned_days p
    where d.experiment_id = p.experiment_id and d.day = p.day and d.variant = p.variant;
insert into daily_metrics (experiment_id, day, variant, shard, events, quality_n, quality_mean,
    quality_m2, latency_n, latency_mean, latency_m2)
select e.experiment_id, (e.ts at time zone 'UTC')::date, e.variant, 0, count(*),
       count(e.quality), coalesce(avg(e.quality), 0),
       coalesce(var_pop(e.quality) * count(e.quality), 0),
       count(e.latency_ms) filter (where e.latency_ms <= 86400000),
       coalesce(avg(e.latency_ms) filter (where e.latency_ms <= 86400000), 0),
       coalesce(var_pop(e.latency_ms) filter (where e.latency_ms <= 86400000)
                * count(e.latency_ms) filter (where e.latency_ms <= 86400000), 0)
from events e join poisoned_days p
    on e.experiment_id = p.experiment_id and (e.ts at time zone 'UTC')::date = p.day
       and e.variant = p.variant
group by 1, 2, 3;

-- Idempotency keys are unique per (experiment, tenant): on a system-wide experiment one
-- tenant can no longer claim another's keys. (Every pair unique before is unique now.)
create unique index events_idempotency_tenant_idx on events (experiment_id, tenant_id, idempotency_key)
    where idempotency_key is not null;
drop index events_idempotency_idx;

-- Events the fold could not add to the per-user rollups (a sum out of range, from values
-- stored before the bounds above): kept in `events` untouched, listed here, left out of every
-- result, and counted by /healthz. `verdict quarantine` lists them; `verdict quarantine
-- release` folds them again once repaired.
create table fold_quarantine (
    experiment_id  uuid not null,
    event_id       uuid not null,
    tenant_id      text not null,
    user_id        text not null,
    reason         text not null,
    quarantined_at timestamptz not null default now(),
    primary key (experiment_id, event_id)
);

-- Tokens may expire (`verdict token create --expires 90d`); `last_used_at` is written.
alter table api_tokens add column expires_at timestamptz;
-- The `system` tenant names system-wide experiments; no token may belong to it.
alter table api_tokens add constraint api_tokens_tenant_not_system
    check (tenant_id is distinct from 'system') not valid;

-- Who created an experiment, by token (self-approval is judged by token, not by label).
alter table experiments add column created_by_token uuid;

-- Deployments are ordered by the database's clock, never an application server's.
alter table deployments alter column deployed_at set default clock_timestamp();

-- The wizard's traffic estimate counts recent assignments.
create index assignments_assigned_at_idx on assignments (assigned_at);
-- Expired sessions are purged in the background.
create index sessions_expires_idx on sessions (expires_at);

-- Writing `last_used_at` changes nothing a server remembers of a token: only the columns
-- that do are announced (each announcement makes every server forget its tokens).
drop trigger api_tokens_notify on api_tokens;
create trigger api_tokens_notify
    after insert or delete or update of token_hash, role, tenant_id, label, revoked_at, expires_at
    on api_tokens
    for each statement execute function notify_verdict_change();
