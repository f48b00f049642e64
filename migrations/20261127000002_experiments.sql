-- The spec's Experiment document (ab-testing-system.md, "Experiment Document").
-- The spec partitions by [tenantId, experimentId, 'system']; the primary key keeps that
-- order so that sharding by experiment later needs no redesign. `id` is unique on its own
-- because the REST paths name an experiment by id alone.
create table experiments (
    tenant_id               text not null default 'system' check (length(tenant_id) between 1 and 200),
    id                      uuid not null unique,
    name                    text not null check (length(name) between 1 and 200),
    description             text not null default '',
    hypothesis              text not null default '',
    target_type             text not null check (target_type in (
                                'context_template', 'prompt', 'model_selection',
                                'intent_classification', 'grounding_threshold')),
    target_id               text not null,

    control_name            text not null check (length(control_name) between 1 and 200),
    control_config          jsonb not null default '{}' check (jsonb_typeof(control_config) = 'object'),
    treatment_name          text not null check (length(treatment_name) between 1 and 200),
    treatment_config        jsonb not null default '{}' check (jsonb_typeof(treatment_config) = 'object'),

    -- Whole percentages of all traffic; what is left over is not in the experiment.
    alloc_control           smallint not null check (alloc_control between 1 and 100),
    alloc_treatment         smallint not null check (alloc_treatment between 1 and 100),
    check (alloc_control + alloc_treatment <= 100),

    -- {tenantIds, userIds, intents, scopes}; absent or empty lists do not restrict.
    targeting               jsonb not null default '{}' check (jsonb_typeof(targeting) = 'object'),

    primary_metric          text not null check (primary_metric in (
                                'quality', 'citation_quality', 'satisfaction', 'latency',
                                'tokens_used', 'cost', 'error_rate')),
    success_metric          text not null check (success_metric in (
                                'quality', 'citation_quality', 'satisfaction', 'latency',
                                'tokens_used', 'cost', 'error_rate')),
    success_operator        text not null check (success_operator in ('>', '>=', '<', '<=')),
    -- A relative change in percent, as the wizard words it ("improves by more than 5 %").
    success_threshold       double precision not null check (success_threshold between 0 and 1000),
    confidence_level        double precision not null check (confidence_level > 0.5 and confidence_level < 1),
    secondary_metrics       text[] not null default '{}',
    -- Pause the experiment by itself when a secondary metric is significantly worse.
    auto_pause_on_guardrail boolean not null default false,

    status                  text not null default 'draft' check (status in (
                                'draft', 'active', 'paused', 'completed', 'winner_deployed', 'cancelled')),
    start_date              timestamptz,
    end_date                timestamptz,
    min_duration_days       integer not null check (min_duration_days between 1 and 365),
    min_samples_per_variant integer not null check (min_samples_per_variant between 1 and 10000000),

    -- VariantResults of both arms, winner, significance: stored when the experiment completes.
    results                 jsonb,
    winner                  text check (winner in ('control', 'treatment')),

    created_by              text not null,
    approved_by             text,

    -- Salt of the assignment hash: independent bucketing per experiment.
    salt                    text not null,
    -- Optimistic concurrency: every update bumps it.
    version                 bigint not null default 1,
    created_at              timestamptz not null default now(),
    updated_at              timestamptz not null default now(),

    primary key (tenant_id, id),
    check (status = 'draft' or status = 'cancelled' or start_date is not null)
);
select trigger_updated_at('experiments');

-- The dashboard lists by status; the variant cache loads active experiments.
create index experiments_status_idx on experiments (status, tenant_id);
-- Overlap check on start: other live experiments on the same target.
create index experiments_target_idx on experiments (target_type, target_id) where status in ('active', 'paused');
