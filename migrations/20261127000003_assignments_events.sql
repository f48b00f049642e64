-- The spec's ExperimentAssignment document. Keyed [tenant, experiment, user] as the spec
-- partitions it. `tenant_id` is the user's tenant: a system-wide experiment assigns users of
-- every tenant, and two tenants may both have a user "42".
create table assignments (
    tenant_id       text not null,
    experiment_id   uuid not null references experiments (id) on delete cascade,
    user_id         text not null,
    id              uuid not null unique,
    variant         text not null check (variant in ('control', 'treatment')),
    assigned_at     timestamptz not null default now(),
    first_exposure  timestamptz,
    last_exposure   timestamptz,
    exposure_count  bigint not null default 0 check (exposure_count >= 0),
    primary key (tenant_id, experiment_id, user_id)
);
create index assignments_experiment_idx on assignments (experiment_id, variant);

-- The spec's ExperimentEvent document. Known metrics are typed columns; custom numeric
-- metrics (e.g. citation_quality) live in `custom_metrics`. Ids are UUIDv7 (time-ordered),
-- which keeps inserts into the primary key index cheap.
create table events (
    experiment_id     uuid not null references experiments (id) on delete cascade,
    id                uuid not null,
    tenant_id         text not null,
    user_id           text not null,
    assignment_id     uuid not null,
    variant           text not null check (variant in ('control', 'treatment')),
    event_type        text not null check (event_type in ('exposure', 'conversion', 'feedback', 'error')),

    quality           double precision check (quality between 0 and 1),
    latency_ms        double precision check (latency_ms >= 0 and latency_ms < 'Infinity'),
    tokens_used       bigint check (tokens_used >= 0),
    cost              double precision check (cost >= 0 and cost < 'Infinity'),
    user_satisfaction text check (user_satisfaction in ('positive', 'negative', 'neutral')),
    custom_metrics    jsonb not null default '{}' check (jsonb_typeof(custom_metrics) = 'object'),

    insight_id        text,
    conversation_id   text,
    intent            text,
    scope             jsonb,

    ts                timestamptz not null,
    received_at       timestamptz not null default now(),
    -- The same key twice stores one event.
    idempotency_key   text,
    primary key (experiment_id, id)
);
create unique index events_idempotency_idx on events (experiment_id, idempotency_key)
    where idempotency_key is not null;
create index events_experiment_user_idx on events (experiment_id, tenant_id, user_id);
create index events_experiment_ts_idx on events (experiment_id, ts);
