-- A user whose events name both arms (possible only for events stored by hand or by older
-- versions: an assignment never changes) used to be filed under the first arm's name. Such
-- users are now marked, left out of every result, and counted in the results' detail.
alter table user_metrics add column mixed boolean not null default false;

update user_metrics m set mixed = true
where exists (
    select from events e
    where e.experiment_id = m.experiment_id and e.tenant_id = m.tenant_id
      and e.user_id = m.user_id and e.variant <> m.variant
);
