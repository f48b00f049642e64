-- Every change to what the runtime serves (experiments, deployments) or to who may call it
-- (api_tokens) is announced on the channel `verdict_changes`, with the table's name as the
-- payload. Each server keeps these in memory and reloads them when told, so a change made
-- through any replica reaches all of them within a second. Statement-level triggers: one
-- notification per statement, however many rows it touched; PostgreSQL folds duplicates
-- within a transaction and delivers them at commit.
create or replace function notify_verdict_change() returns trigger as $$
begin
    perform pg_notify('verdict_changes', tg_table_name);
    return null;
end;
$$ language plpgsql;

create trigger experiments_notify after insert or update or delete on experiments
    for each statement execute function notify_verdict_change();
create trigger deployments_notify after insert or update or delete on deployments
    for each statement execute function notify_verdict_change();
create trigger api_tokens_notify after insert or update or delete on api_tokens
    for each statement execute function notify_verdict_change();
