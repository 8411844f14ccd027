-- Event logs per day and branch, next to the detections: the reports dashboard reads its
-- event trend from here instead of counting a range of event_logs. Every writer of
-- event_logs adds to it in the same transaction (today: detection processing).
ALTER TABLE day_counts ADD COLUMN events INTEGER NOT NULL DEFAULT 0;
UPDATE day_counts SET events = (
    SELECT count(*) FROM event_logs e
    WHERE e.event_date = day_counts.detection_date
      AND (day_counts.branch_id = 0 OR e.branch_id = day_counts.branch_id));
