-- Running day totals (SPEC §10 dashboard): the processing transaction adds to them, so the
-- dashboard reads a handful of rows instead of scanning a day of detections.

-- re_id_branch_days now records every branch that saw a person on a day, also while the
-- person-day is inactive; `counted` says whether the branch counts towards
-- total_detection_branch_count (it does from its first tracked detection on).
ALTER TABLE re_id_branch_days ADD COLUMN counted BOOLEAN NOT NULL DEFAULT TRUE;
INSERT INTO re_id_branch_days (re_id, detection_date, branch_id, counted)
SELECT DISTINCT re_id, detection_date, branch_id, FALSE FROM re_id_branch_detections
ON CONFLICT DO NOTHING;

-- branch_id 0 is the all-branches row. persons = distinct re_id among the day's detections.
CREATE TABLE day_counts (
    detection_date DATE NOT NULL,
    branch_id      BIGINT NOT NULL,
    detections     BIGINT NOT NULL DEFAULT 0,
    detected_count BIGINT NOT NULL DEFAULT 0,
    persons        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (detection_date, branch_id)
);

INSERT INTO day_counts (detection_date, branch_id, detections, detected_count, persons)
SELECT d.detection_date, d.branch_id, count(*), sum(d.detected_count), count(DISTINCT d.re_id)
FROM re_id_branch_detections d GROUP BY d.detection_date, d.branch_id;

INSERT INTO day_counts (detection_date, branch_id, detections, detected_count, persons)
SELECT d.detection_date, 0, count(*), sum(d.detected_count), count(DISTINCT d.re_id)
FROM re_id_branch_detections d GROUP BY d.detection_date;

-- Detections per day, branch and device: distinct devices and device breakdowns of any
-- range without reading detections.
CREATE TABLE device_day_counts (
    detection_date DATE NOT NULL,
    branch_id      BIGINT NOT NULL,
    device_id      TEXT NOT NULL,
    detections     BIGINT NOT NULL DEFAULT 0,
    detected_count BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (detection_date, branch_id, device_id)
);

INSERT INTO device_day_counts (detection_date, branch_id, device_id, detections, detected_count)
SELECT detection_date, branch_id, device_id, count(*), sum(detected_count)
FROM re_id_branch_detections GROUP BY detection_date, branch_id, device_id;

-- Distinct persons of a date range (per branch and overall) read off this index.
CREATE INDEX re_id_branch_days_day ON re_id_branch_days (detection_date, branch_id, re_id);
