-- Request-level latency: one mergeable quantile sketch (DDSketch, see
-- `domain::stats::quantile`) per experiment and arm, kept by the fold beside `user_metrics`
-- from the same events, so the results show p50/p95/p99 of every request — not only of the
-- per-user means — without reading the events.
--
-- `sketch` is NULL when it has to be made again from the events: for the experiments that
-- had events before this table (marked here), and whenever a stored sketch cannot be read
-- back. The results rebuild it under the fold's lock the first time they need it.
create table latency_sketches (
    experiment_id uuid not null,
    variant       text not null check (variant in ('control', 'treatment')),
    requests      bigint not null default 0,
    sketch        jsonb,
    primary key (experiment_id, variant)
);

insert into latency_sketches (experiment_id, variant, sketch)
select distinct experiment_id, variant, null::jsonb from events where latency_ms is not null;
