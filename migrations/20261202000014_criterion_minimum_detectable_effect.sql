-- The effect beyond the success criterion's threshold an experiment is planned to detect
-- (percent). NULL: the default of 5 (docs/STATISTICS.md, "Power"). Fixed with the rest of
-- the definition once the experiment starts: the sequential test's tuning depends on it.
alter table experiments
    add column minimum_detectable_effect double precision
        check (minimum_detectable_effect > 0 and minimum_detectable_effect <= 1000);
