-- CUPED: a user's pre-experiment value of the experiment's primary metric, sent as the
-- custom metric `pre_experiment` on their events, kept per user (count and sum, like the
-- other metrics) so the results can report variance-reduced figures beside the plain ones.
alter table user_metrics
    add column pre_n bigint not null default 0,
    add column pre_sum double precision not null default 0;

update user_metrics m set pre_n = s.n, pre_sum = s.total
from (
    select experiment_id, tenant_id, user_id,
           count((custom_metrics ->> 'pre_experiment')::float8) as n,
           coalesce(sum((custom_metrics ->> 'pre_experiment')::float8), 0) as total
    from events where custom_metrics ? 'pre_experiment'
    group by experiment_id, tenant_id, user_id
) s
where m.experiment_id = s.experiment_id and m.tenant_id = s.tenant_id and m.user_id = s.user_id;
