-- The per-user rollups are folded from the events in bulk, no longer upserted by every batch.
--
-- Every batch of events used to upsert one `user_metrics` row per user it held, in its own
-- transaction: an index probe, a row lock and a new row version per user per batch. Under
-- load that upsert cost the database more than writing the events themselves. Now the
-- events are the log: each ingestion writer numbers the events it writes (`fold_key`, its
-- stream's number in the high bits, a count in the low 40), and a background fold sums the
-- events after each stream's progress into `user_metrics` (one upsert per user however many
-- batches named them) and moves the progress, in one transaction. Within a stream the keys
-- commit in order (a writer writes one transaction at a time on one connection), so the
-- progress is exact: an event is either folded or after its stream's progress, never both and
-- never neither. The results read `user_metrics` together with the events not folded yet.
--
-- Events stored before this migration have no `fold_key`: they are in `user_metrics` already.
alter table events add column fold_key bigint;
create index events_fold_key on events (fold_key) where fold_key is not null;

create table ingest_streams (
    stream          bigint generated always as identity primary key,
    -- The count (low 40 bits of `fold_key`) of the stream's last event folded.
    folded_through  bigint not null default 0,
    created_at      timestamptz not null default now()
);

-- Used by the writers' one-statement path for small batches (see `store::events::ingest_small`):
-- it raises a serialization failure, which makes the whole statement (and all it wrote)
-- roll back, when a user's assignment was being created by another transaction at the same
-- moment; the writer then writes that batch again the longer way.
create function verdict_retry_if(conflicted boolean) returns boolean
language plpgsql as $$
begin
    if conflicted then
        raise exception 'an assignment of this batch was created concurrently; retry'
            using errcode = 'serialization_failure';
    end if;
    return true;
end
$$;
