-- Verdict on Citus (docs/SCALING.md, "Distribution"). On a database with the `citus`
-- extension the tables keyed by experiment are distributed by `experiment_id`, co-located
-- with `events`, so that one experiment's events, assignments and rollups live together on
-- one worker and a results read is a single-shard query. The small global tables
-- (experiments, deployments, tokens, sessions, audit, result snapshots, ingestion streams)
-- stay ordinary tables on the coordinator: their change-notification triggers then fire
-- where Verdict LISTENs, and the few joins with them are planned by Citus. The ingestion
-- streams, which every read of the events not folded yet joins with the events, are a
-- reference table (a copy on every node), so those joins run on the workers.
--
-- Without the extension (plain PostgreSQL) every `verdict_distribute` below does nothing:
-- the only change this migration makes there is the reshaped unique key of `assignments`.

-- Citus refuses a unique constraint that does not hold the distribution column. An
-- assignment's id was unique on its own; it is unique per experiment now, which is all that
-- anything relies on (an event names its experiment and its assignment's id; ids are fresh
-- UUIDv7s either way). The primary key (tenant_id, experiment_id, user_id) holds it already.
alter table assignments add constraint assignments_experiment_id_id_key unique (experiment_id, id);
alter table assignments drop constraint assignments_id_key;

-- Whether this database has Citus.
create or replace function verdict_has_citus() returns boolean language sql stable as $$
    select exists (select from pg_extension where extname = 'citus')
$$;

-- How a table is placed on a Citus cluster; a no-op on plain PostgreSQL, and for a table
-- already placed. `kind`:
--   'experiment' distributed by `experiment_id` (uuid, not null, in every unique key),
--                co-located with `events`: for everything keyed by experiment;
--   'reference'  a copy on every node: for small tables that distributed ones join often and
--                that carry no trigger;
--   'local'      left an ordinary table on the coordinator (where Verdict connects): for small
--                global tables, and any with change-notification triggers.
-- A later migration that adds a table places it with one line, e.g.
--   select verdict_distribute('holdouts', 'experiment');
create or replace function verdict_distribute(tbl regclass, kind text) returns void
language plpgsql as $$
declare
    placed boolean;
begin
    if kind is null or kind not in ('experiment', 'reference', 'local') then
        raise exception 'verdict_distribute(%, %): kind must be experiment, reference or local',
            tbl, kind;
    end if;
    if kind = 'local' or not verdict_has_citus() then
        return;
    end if;
    -- Citus' catalog and functions exist only with the extension: dynamic SQL throughout.
    execute 'select exists (select from pg_dist_partition where logicalrelid = $1)'
        into placed using tbl;
    if placed then
        return;
    end if;
    if kind = 'reference' then
        execute 'select create_reference_table($1)' using tbl;
    elsif tbl = 'events'::regclass then
        execute 'select create_distributed_table($1, ''experiment_id'')' using tbl;
    else
        execute 'select create_distributed_table($1, ''experiment_id'', colocate_with => ''events'')'
            using tbl;
    end if;
end
$$;

-- Everything keyed by experiment, co-located with the events (distributed first).
select verdict_distribute('events', 'experiment');
select verdict_distribute('assignments', 'experiment');
select verdict_distribute('user_metrics', 'experiment');
select verdict_distribute('daily_metrics', 'experiment');
select verdict_distribute('latency_sketches', 'experiment');
select verdict_distribute('fold_quarantine', 'experiment');

-- Small and global, kept on the coordinator (see docs/SCALING.md for why not reference
-- tables): named here so that the choice is written down.
select verdict_distribute('experiments', 'local');
select verdict_distribute('deployments', 'local');
select verdict_distribute('audit_log', 'local');
select verdict_distribute('api_tokens', 'local');
select verdict_distribute('sessions', 'local');
select verdict_distribute('result_snapshots', 'local');

-- Joined with the events by every fold and every results read (the events after each
-- stream's progress): a copy on every node. Written once per writer connection and once per
-- fold.
select verdict_distribute('ingest_streams', 'reference');
