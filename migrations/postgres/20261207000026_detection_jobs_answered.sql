-- A counted detection's job is answered from its detection row: processing deletes the
-- `jobs` row of such a job instead of updating it to completed. The update was a new
-- version of the row (an update that changes `status` cannot stay on its page, the index
-- of queued jobs tests it), a primary-key entry, and the dead version left for vacuum.
-- A job that was retried, that carries an idempotency key (the duplicate check reads
-- `jobs`), or whose person-day was inactive keeps its completed `jobs` row.
--
-- The detection row keeps what the job status answer needs besides what it already
-- holds: who sent it (`credential_id`, for the scope check), when it was received, and
-- its event-log row. The index finds a job's detection; job ids start with their creation
-- time, so new entries go to the end of the index. Rows written before this step have no
-- `received_at` and keep their `jobs` rows; the status answer does not read them here, so
-- the index leaves them out (on an upgraded database it starts empty, and pruning's first
-- pass over the answers does not walk the whole history).
ALTER TABLE re_id_branch_detections
    ADD COLUMN credential_id BIGINT,
    ADD COLUMN received_at   TIMESTAMPTZ,
    ADD COLUMN event_log_id  BIGINT;
CREATE INDEX re_id_branch_detections_job ON re_id_branch_detections (job_id) WHERE received_at IS NOT NULL;

-- Completed jobs are kept for the completed-job retention, and so are these answers:
-- pruning moves this one-row horizon forward instead of deleting detection rows, and a
-- detection whose job id sorts before `before_id` no longer answers for its job.
CREATE TABLE detection_job_horizon (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    before_id UUID NOT NULL
);
