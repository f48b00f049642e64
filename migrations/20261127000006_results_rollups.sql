-- Rollups that the results read instead of scanning every event.
--
-- The randomization unit is the user, so the analysis unit is the user: `user_metrics` keeps,
-- per (experiment, user), the event count and per-metric count and sum (a user's value for a
-- metric is the mean of their events), errors and feedback counts. The ingestion pipeline
-- updates it in the same transaction as the events it inserts, so results read one row per
-- user. Per-user sums stay small (a user's own events), so they keep full precision.
create table user_metrics (
    experiment_id   uuid not null references experiments (id) on delete cascade,
    tenant_id       text not null,
    user_id         text not null,
    variant         text not null check (variant in ('control', 'treatment')),
    events          bigint not null default 0,
    errors          bigint not null default 0,
    quality_n       bigint not null default 0,
    quality_sum     double precision not null default 0,
    citation_n      bigint not null default 0,
    citation_sum    double precision not null default 0,
    latency_n       bigint not null default 0,
    latency_sum     double precision not null default 0,
    tokens_n        bigint not null default 0,
    tokens_sum      double precision not null default 0,
    cost_n          bigint not null default 0,
    cost_sum        double precision not null default 0,
    positive        bigint not null default 0,
    negative        bigint not null default 0,
    neutral         bigint not null default 0,
    first_ts        timestamptz not null,
    last_ts         timestamptz not null,
    primary key (experiment_id, tenant_id, user_id)
);

-- Per day and variant, event-level (n, mean, M2) of quality and latency for the time series.
-- Mergeable and exact (Chan's update), unlike sums of squares.
create table daily_metrics (
    experiment_id uuid not null references experiments (id) on delete cascade,
    day           date not null,
    variant       text not null check (variant in ('control', 'treatment')),
    events        bigint not null default 0,
    quality_n     bigint not null default 0,
    quality_mean  double precision not null default 0,
    quality_m2    double precision not null default 0,
    latency_n     bigint not null default 0,
    latency_mean  double precision not null default 0,
    latency_m2    double precision not null default 0,
    primary key (experiment_id, day, variant)
);

-- The last computed results of an experiment, served fast and refreshed in the background.
create table result_snapshots (
    experiment_id uuid primary key references experiments (id) on delete cascade,
    computed_at   timestamptz not null,
    body          jsonb not null
);

-- Events stored before these tables existed.
insert into user_metrics
select experiment_id, tenant_id, user_id, min(variant), count(*),
       count(*) filter (where event_type = 'error'),
       count(quality), coalesce(sum(quality), 0),
       count((custom_metrics ->> 'citation_quality')::float8),
       coalesce(sum((custom_metrics ->> 'citation_quality')::float8), 0),
       count(latency_ms), coalesce(sum(latency_ms), 0),
       count(tokens_used), coalesce(sum(tokens_used), 0),
       count(cost), coalesce(sum(cost), 0),
       count(*) filter (where user_satisfaction = 'positive'),
       count(*) filter (where user_satisfaction = 'negative'),
       count(*) filter (where user_satisfaction = 'neutral'),
       min(ts), max(ts)
from events group by experiment_id, tenant_id, user_id;

insert into daily_metrics
select experiment_id, (ts at time zone 'UTC')::date, variant, count(*),
       count(quality), coalesce(avg(quality), 0),
       coalesce(var_samp(quality) * (count(quality) - 1), 0),
       count(latency_ms), coalesce(avg(latency_ms), 0),
       coalesce(var_samp(latency_ms) * (count(latency_ms) - 1), 0)
from events group by 1, 2, 3;
