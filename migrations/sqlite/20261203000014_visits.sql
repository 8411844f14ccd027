-- Visitor analytics. A visit is one person at one branch on one local day: a row of
-- re_id_branch_days. It now carries the visit's first and last detection and how many
-- detections it has (the processing transaction moves them by min, max and plus), so
-- dwell time and flows between branches read one row per visit instead of every
-- detection.
ALTER TABLE re_id_branch_days ADD COLUMN first_detected_at TEXT;
ALTER TABLE re_id_branch_days ADD COLUMN last_detected_at TEXT;
ALTER TABLE re_id_branch_days ADD COLUMN detections INTEGER NOT NULL DEFAULT 0;

UPDATE re_id_branch_days
SET first_detected_at = v.first_at, last_detected_at = v.last_at, detections = v.n
FROM (
    SELECT re_id, detection_date, branch_id,
           min(detection_timestamp) AS first_at, max(detection_timestamp) AS last_at, count(*) AS n
    FROM re_id_branch_detections
    GROUP BY re_id, detection_date, branch_id
) AS v
WHERE re_id_branch_days.re_id = v.re_id AND re_id_branch_days.detection_date = v.detection_date
  AND re_id_branch_days.branch_id = v.branch_id;

-- Detections per local day, branch and hour: the busy-hours heatmap of any range reads
-- at most 24 rows per day and branch.
CREATE TABLE hour_counts (
    detection_date TEXT NOT NULL,
    branch_id      INTEGER NOT NULL,
    detection_hour INTEGER NOT NULL,
    detections     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (detection_date, branch_id, detection_hour)
) WITHOUT ROWID;

INSERT INTO hour_counts (detection_date, branch_id, detection_hour, detections)
SELECT detection_date, branch_id, detection_hour, count(*)
FROM re_id_branch_detections GROUP BY detection_date, branch_id, detection_hour;
