-- Change notifications name the experiment that changed. Before, every statement on
-- `experiments` or `deployments` announced just the table's name, and every server reloaded
-- every active experiment and deployment, even for an edit of a draft. Now:
--   * the payload is `experiment:<id>`: a server reloads that one experiment's live state
--     (its entry if it is active, its newest deployment if its winner is deployed);
--   * a change the runtime cannot see sends nothing: an `experiments` row notifies only
--     when it is, or was, active or winner_deployed, and only when something in it changed.
-- PostgreSQL still folds identical payloads within a transaction and delivers them at
-- commit, so a lifecycle step that writes the experiment and a deployment sends one.
-- `api_tokens` keeps its statement-level notification (payload `api_tokens`).
create or replace function notify_experiment_change() returns trigger as $$
declare
    changed uuid;
begin
    if tg_table_name = 'deployments' then
        if tg_op = 'DELETE' then changed := old.experiment_id; else changed := new.experiment_id; end if;
    else
        if tg_op = 'DELETE' then changed := old.id; else changed := new.id; end if;
    end if;
    perform pg_notify('verdict_changes', 'experiment:' || changed::text);
    return null;
end;
$$ language plpgsql;

drop trigger experiments_notify on experiments;
drop trigger deployments_notify on deployments;

create trigger experiments_notify_insert after insert on experiments
    for each row when (new.status in ('active', 'winner_deployed'))
    execute function notify_experiment_change();
create trigger experiments_notify_update after update on experiments
    for each row when (
        (old.status in ('active', 'winner_deployed') or new.status in ('active', 'winner_deployed'))
        and old is distinct from new
    )
    execute function notify_experiment_change();
create trigger experiments_notify_delete after delete on experiments
    for each row when (old.status in ('active', 'winner_deployed'))
    execute function notify_experiment_change();
create trigger deployments_notify after insert or update or delete on deployments
    for each row execute function notify_experiment_change();
