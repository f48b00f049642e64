-- Results read the per-user rollups now, not the events of one user: the index that served
-- that costs every insert and serves no query.
drop index if exists events_experiment_user_idx;
