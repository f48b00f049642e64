-- Holdouts (#15): a stable share of a tenant's users (or of every tenant's, system-wide) who
-- receive no experiment and no deployed winner, so that the cumulative effect of everything
-- shipped can be measured. A holdout is an experiment of kind 'holdout' with two arms,
-- `holdout` (the control: the held-out share) and `exposed` (everyone else), so assignments,
-- events, rollups and results work for it unchanged. It tests no target: its target columns
-- hold a placeholder (prompt / verdict-holdout) that nothing reads, since every query about
-- targets and the live experiments asks for kind 'experiment'.
alter table experiments
    add column kind text not null default 'experiment' check (kind in ('experiment', 'holdout'));

-- At most one live holdout per tenant (and one system-wide).
create unique index experiments_one_live_holdout on experiments (tenant_id)
    where kind = 'holdout' and status in ('active', 'paused');
