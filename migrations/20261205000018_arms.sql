-- More than two arms (A/B/n): an experiment has a control and 1 to 7 treatments, each with a
-- key, a name and a configuration, and a share of traffic per arm.
--
-- `variants` holds every arm in order, the control first: [{key, name, configuration,
-- share}]. Existing experiments get their two arms under the keys `control` and `treatment`
-- with their names, configurations and shares, so every stored assignment, event and rollup
-- keeps naming its arm, and the assignment of every user is unchanged (the k-arm bucket
-- layout is the two-arm layout for two arms; docs/ASSIGNMENT.md).
alter table experiments add column variants jsonb;
update experiments set variants = jsonb_build_array(
    jsonb_build_object('key', 'control', 'name', control_name, 'configuration', control_config,
                       'share', alloc_control),
    jsonb_build_object('key', 'treatment', 'name', treatment_name,
                       'configuration', treatment_config, 'share', alloc_treatment));
alter table experiments alter column variants set not null;
alter table experiments add constraint experiments_variants_shape check (
    jsonb_typeof(variants) = 'array' and jsonb_array_length(variants) between 2 and 8);
alter table experiments
    drop column control_name, drop column control_config,
    drop column treatment_name, drop column treatment_config,
    drop column alloc_control, drop column alloc_treatment;

-- An arm is named by its key wherever `control`/`treatment` were the only names allowed.
create function verdict_arm_key(key text) returns boolean immutable language sql
    as $$ select key ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,30}$' $$;

do $$
declare
    c record;
begin
    for c in
        select t.relname as tab, k.conname as con
        from pg_constraint k join pg_class t on t.oid = k.conrelid
        where k.contype = 'c'
          and t.relname in ('experiments', 'assignments', 'events', 'user_metrics',
                            'daily_metrics', 'latency_sketches', 'deployments')
          and pg_get_constraintdef(k.oid) like '%''treatment''%'
    loop
        execute format('alter table %I drop constraint %I', c.tab, c.con);
    end loop;
end $$;

alter table experiments add constraint experiments_winner_key check (winner is null or verdict_arm_key(winner));
alter table deployments add constraint deployments_winner_key check (verdict_arm_key(winner));
alter table assignments add constraint assignments_variant_key check (verdict_arm_key(variant)) not valid;
alter table assignments validate constraint assignments_variant_key;
alter table events add constraint events_variant_key check (verdict_arm_key(variant)) not valid;
alter table events validate constraint events_variant_key;
alter table user_metrics add constraint user_metrics_variant_key check (verdict_arm_key(variant)) not valid;
alter table user_metrics validate constraint user_metrics_variant_key;
alter table daily_metrics add constraint daily_metrics_variant_key check (verdict_arm_key(variant)) not valid;
alter table daily_metrics validate constraint daily_metrics_variant_key;
alter table latency_sketches add constraint latency_sketches_variant_key check (verdict_arm_key(variant));
