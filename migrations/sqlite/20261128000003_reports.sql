-- Reports, their staleness, scheduler slots, and the indexes reports and queue monitoring read.

-- Counting reports (SPEC §9). branch_id NULL is the overall report; branch_key (0 for it)
-- makes the key unique for the overall row too (the original's unique key let NULL rows
-- repeat, reference §15.3 #19). report_date is the local date of a daily report and the
-- first day of the month of a monthly one.
CREATE TABLE counting_reports (
    id                   INTEGER PRIMARY KEY,
    report_type          TEXT NOT NULL CHECK (report_type IN ('daily', 'monthly')),
    report_date          TEXT NOT NULL,
    branch_id            INTEGER REFERENCES company_branches (id) ON DELETE CASCADE,
    branch_key           INTEGER GENERATED ALWAYS AS (COALESCE(branch_id, 0)) VIRTUAL,
    total_detections     INTEGER NOT NULL,
    unique_persons       INTEGER NOT NULL,
    total_detected_count INTEGER NOT NULL,
    unique_devices       INTEGER NOT NULL,
    total_events         INTEGER NOT NULL,
    report_data          TEXT NOT NULL,
    generated_at         TEXT NOT NULL,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
CREATE UNIQUE INDEX counting_reports_key ON counting_reports (report_type, report_date, branch_key);

-- Reports whose data changed after they were generated. Ingest marks (date, branch) in
-- report_dirty_days; each mark is expanded into the four reports it affects (the branch's
-- and the overall daily and monthly report). `version` grows on every re-mark, so a
-- generation deletes the row only if nothing re-marked it while it ran.
CREATE TABLE report_stale (
    report_type TEXT NOT NULL,
    report_date TEXT NOT NULL,
    branch_key  INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    marked_at   TEXT NOT NULL,
    PRIMARY KEY (report_type, report_date, branch_key)
) WITHOUT ROWID;

-- One row per scheduled task and slot: inserting it is how one node (of several) wins the
-- slot, and the rows are the run history the admin schedule view shows.
CREATE TABLE schedule_runs (
    task       TEXT NOT NULL,
    slot       TEXT NOT NULL,
    node       TEXT NOT NULL,
    started_at TEXT NOT NULL,
    PRIMARY KEY (task, slot)
) WITHOUT ROWID;

-- Reports page through one branch's detections of a time range.
CREATE INDEX re_id_branch_detections_branch_time ON re_id_branch_detections (branch_id, detection_timestamp);
-- Queue monitoring counts jobs completed in the last minute.
CREATE INDEX jobs_completed ON jobs (finished_at) WHERE status = 'completed';
