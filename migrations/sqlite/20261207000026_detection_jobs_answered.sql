-- The PostgreSQL twin of this step makes a counted detection's row answer for its job, as
-- SQLite's detection rows have since `20261206000024_detection_jobs` (columns, index and
-- horizon). Nothing changes here. The file keeps both backends' histories step for step.
SELECT 1;
