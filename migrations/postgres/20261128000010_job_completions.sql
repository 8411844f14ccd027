-- Completed jobs per queue and second: the queue monitor's "processed in the last minute"
-- sums at most 60 rows instead of counting up to a minute of completed jobs (600,000 at
-- 10,000 detections/s). Written in the completing transaction; rows older than an hour
-- are pruned with completed jobs.
CREATE TABLE job_completions (
    queue     TEXT NOT NULL,
    second    BIGINT NOT NULL,
    completed BIGINT NOT NULL,
    PRIMARY KEY (queue, second)
);
