-- The tables the runtime writes on every request (assignments, events and their rollups)
-- no longer carry foreign keys to `experiments`. Each such key made every inserted row run a
-- `SELECT … FOR KEY SHARE` on its experiment's row; with several writers committing at once
-- those shared row locks on one hot row became MultiXacts (about one per transaction), which
-- PostgreSQL creates under a global lock and logs: a large share of the cost of ingesting an
-- event. What the keys guarded is kept otherwise:
--   * rows are written only for an experiment the runtime loaded from this table (an event
--     names an experiment the snapshot holds, and it must be active);
--   * experiments are never deleted (cancelled is a status), and the trigger below makes
--     that a rule of the database, so no row can be orphaned by a deletion.
alter table events drop constraint events_experiment_id_fkey;
alter table assignments drop constraint assignments_experiment_id_fkey;
alter table user_metrics drop constraint user_metrics_experiment_id_fkey;
alter table daily_metrics drop constraint daily_metrics_experiment_id_fkey;

create function experiments_are_never_deleted() returns trigger language plpgsql as $$
begin
    raise exception 'experiments are never deleted (experiment %); cancel it instead', old.id
        using errcode = 'restrict_violation';
end
$$;
create trigger experiments_are_never_deleted before delete on experiments
    for each row execute function experiments_are_never_deleted();
