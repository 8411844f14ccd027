-- Completed jobs are counted from job_completions (one row per queue and second) and
-- pruned by id (ids start with their creation time), so nothing reads this index any
-- more, while every processed detection's completed job row still paid an entry in it.
DROP INDEX IF EXISTS jobs_completed;
