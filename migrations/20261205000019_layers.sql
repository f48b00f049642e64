-- Layers (#15): experiments that may reach the same users share a layer and each takes a
-- disjoint slice of its 10,000 buckets, so a user is in at most one of them.
--
-- `layer` names a layer of the experiment's tenant (`system` experiments: a system layer);
-- null is the target's own layer (`target:<targetType>/<targetId>`). `layer_share` is the
-- whole percent of the layer's traffic the experiment asks for at start (null: the largest
-- free gap). The slice [layer_slice_start, layer_slice_end) is chosen at start and never
-- changes; only live (active, paused) experiments hold theirs, the others keep it as a record.
--
-- Every experiment that has started before this migration gets the whole layer [0, 10000):
-- its users are exactly those it had (the layer's bucket is not even computed for a full
-- slice), so nobody moves.
alter table experiments
    add column layer text,
    add column layer_share smallint,
    add column layer_slice_start smallint,
    add column layer_slice_end smallint;

update experiments set layer_slice_start = 0, layer_slice_end = 10000
    where start_date is not null;

alter table experiments
    add constraint experiments_layer_key
        check (layer is null or layer ~ '^[A-Za-z0-9_.-]{1,64}$'),
    add constraint experiments_layer_share
        check (layer_share is null or layer_share between 1 and 100),
    add constraint experiments_layer_slice
        check ((layer_slice_start is null) = (layer_slice_end is null)
               and (layer_slice_start is null
                    or (0 <= layer_slice_start and layer_slice_start < layer_slice_end
                        and layer_slice_end <= 10000))),
    add constraint experiments_live_have_a_slice
        check (status not in ('active', 'paused') or layer_slice_start is not null);

-- The live experiments of a named layer, found at every start in it.
create index experiments_live_layer on experiments (tenant_id, layer)
    where layer is not null and status in ('active', 'paused');
