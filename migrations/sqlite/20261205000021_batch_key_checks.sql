-- The PostgreSQL twin of this step replaces the per-row foreign-key checks on detections
-- and event logs with one check per processing batch, because concurrent writers each paid
-- a trigger and a row lock per row. SQLite keeps its foreign keys (one writer, no row
-- locks; what they cost here has not been measured). Nothing changes; the file keeps both
-- backends' histories step for step.
SELECT 1;
