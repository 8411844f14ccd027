-- A counted detection's job is answered from its detection row: processing no longer
-- writes a completed `jobs` row for it. That row (a ~330-byte record and its primary-key
-- entry) was the writer's third-largest cost per detection. The detection row keeps what
-- the job status answer needs besides what it already holds: who sent it
-- (`credential_id`, for the scope check), when it was received, and its event-log row.
-- The index finds a job's detection; job ids start with their creation time, so new
-- entries go to the end of the index. Rows written before this step keep their `jobs`
-- rows and have no `received_at`; the status answer does not read them from here.
ALTER TABLE re_id_branch_detections ADD COLUMN credential_id INTEGER;
ALTER TABLE re_id_branch_detections ADD COLUMN received_at TEXT;
ALTER TABLE re_id_branch_detections ADD COLUMN event_log_id INTEGER;
CREATE INDEX re_id_branch_detections_job ON re_id_branch_detections (job_id);
-- Completed jobs are kept for the completed-job retention, and so are these answers:
-- pruning moves this one-row horizon forward instead of deleting anything, and a
-- detection whose job id sorts before `before_id` no longer answers for its job.
CREATE TABLE detection_job_horizon (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    before_id TEXT NOT NULL
);
