-- Every event transaction updates today's daily_metrics row of its experiment and variant.
-- With one row, concurrent ingestion writers queue on its lock until each other's commit
-- (fsync) is done, and group commit loses its parallelism. Each writer now updates a shard
-- of its own; the results merge the shards (exactly: (n, mean, M2) merge by Chan's update).
alter table daily_metrics add column shard smallint not null default 0;
alter table daily_metrics drop constraint daily_metrics_pkey;
alter table daily_metrics add primary key (experiment_id, day, variant, shard);
