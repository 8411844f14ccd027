-- Visitor analytics read every visit of a range of days: this index holds all they read,
-- so a range is one index scan without a lookup per row (the primary key is ordered by
-- person, not by day). It starts with the columns of re_id_branch_days_day, which it
-- replaces (distinct persons of a range read the same prefix).
CREATE INDEX re_id_branch_days_visits
    ON re_id_branch_days (detection_date, branch_id, re_id, first_detected_at, last_detected_at, detections);
DROP INDEX re_id_branch_days_day;
