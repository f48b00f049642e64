-- Every event updates its user's user_metrics row. With free space left on each page the
-- update can stay on the page (a HOT update: no new index entry), which roughly halves the
-- write volume of the rollups under load.
alter table user_metrics set (fillfactor = 60);
alter table daily_metrics set (fillfactor = 50);
