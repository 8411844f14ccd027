-- Detections and event-log rows partitioned by month (declarative range partitions on
-- their local date), so that reports and exports of a range read only its months, and a
-- retention of N months drops whole partitions instead of deleting row by row.
--
-- Each table gets one partition per month, `<table>_YYYY_MM`, and a DEFAULT partition that
-- catches a row whose month has no partition yet, so an insert never fails for want of
-- one. The store creates the coming months' partitions when it opens and the scheduled
-- partition task keeps them ahead; a month created while the default partition holds some
-- of its rows takes those rows over first.
--
-- Primary keys become (id, date): PostgreSQL requires the partition key in every unique
-- constraint. Ids stay unique, from one sequence per table as before.
--
-- notification_deliveries referenced event_logs (id) with ON DELETE CASCADE, which a
-- partitioned event_logs cannot offer; a trigger removes an event's deliveries instead,
-- and dropping a month removes that month's deliveries first.

CREATE FUNCTION cctv_month_partition(parent TEXT, key TEXT, month DATE) RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
DECLARE
    first DATE := date_trunc('month', month)::date;
    next  DATE := (date_trunc('month', month) + interval '1 month')::date;
    part  TEXT := parent || '_' || to_char(first, 'YYYY_MM');
BEGIN
    -- Nodes opening at the same time create each month once.
    PERFORM pg_advisory_xact_lock(hashtext('cctv_month_partition'));
    IF to_regclass(part) IS NOT NULL THEN
        RETURN FALSE;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part, parent);
    -- Rows of this month in the default partition move in first; the delete trigger knows
    -- they are moving, not going.
    PERFORM set_config('cctv.moving_rows', 'on', true);
    EXECUTE format(
        'WITH moved AS (DELETE FROM %I WHERE %I >= $1 AND %I < $2 RETURNING *) INSERT INTO %I SELECT * FROM moved',
        parent || '_default', key, key, part) USING first, next;
    PERFORM set_config('cctv.moving_rows', 'off', true);
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', parent, part, first, next);
    RETURN TRUE;
END $$;

CREATE FUNCTION cctv_event_log_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('cctv.moving_rows', true) IS DISTINCT FROM 'on' THEN
        DELETE FROM notification_deliveries WHERE event_log_id = OLD.id;
    END IF;
    RETURN OLD;
END $$;

ALTER TABLE notification_deliveries DROP CONSTRAINT notification_deliveries_event_log_id_fkey;
CREATE INDEX notification_deliveries_event ON notification_deliveries (event_log_id);

-- Detections.
ALTER TABLE re_id_branch_detections RENAME TO re_id_branch_detections_unpartitioned;
CREATE TABLE re_id_branch_detections (
    LIKE re_id_branch_detections_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY,
    PRIMARY KEY (id, detection_date),
    FOREIGN KEY (branch_id) REFERENCES company_branches (id) ON DELETE CASCADE,
    FOREIGN KEY (device_id) REFERENCES device_masters (device_id) ON DELETE CASCADE ON UPDATE CASCADE
) PARTITION BY RANGE (detection_date);
CREATE TABLE re_id_branch_detections_default PARTITION OF re_id_branch_detections DEFAULT;
SELECT cctv_month_partition('re_id_branch_detections', 'detection_date', month)
FROM (
    SELECT DISTINCT date_trunc('month', detection_date)::date AS month FROM re_id_branch_detections_unpartitioned
    UNION
    SELECT generate_series(date_trunc('month', now()), date_trunc('month', now()) + interval '3 months', interval '1 month')::date
) months ORDER BY month;
INSERT INTO re_id_branch_detections SELECT * FROM re_id_branch_detections_unpartitioned;
SELECT setval(pg_get_serial_sequence('re_id_branch_detections', 'id'),
              COALESCE((SELECT max(id) FROM re_id_branch_detections), 0) + 1, false);
DROP TABLE re_id_branch_detections_unpartitioned;
CREATE INDEX re_id_branch_detections_day_branch ON re_id_branch_detections (detection_date, branch_id);
CREATE INDEX re_id_branch_detections_person ON re_id_branch_detections (re_id, detection_date);
CREATE INDEX re_id_branch_detections_time ON re_id_branch_detections (detection_timestamp);
CREATE INDEX re_id_branch_detections_branch_time ON re_id_branch_detections (branch_id, detection_timestamp);

-- Event log.
ALTER TABLE event_logs RENAME TO event_logs_unpartitioned;
CREATE TABLE event_logs (
    LIKE event_logs_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY,
    PRIMARY KEY (id, event_date),
    FOREIGN KEY (branch_id) REFERENCES company_branches (id) ON DELETE CASCADE,
    FOREIGN KEY (device_id) REFERENCES device_masters (device_id) ON DELETE CASCADE ON UPDATE CASCADE
) PARTITION BY RANGE (event_date);
CREATE TABLE event_logs_default PARTITION OF event_logs DEFAULT;
SELECT cctv_month_partition('event_logs', 'event_date', month)
FROM (
    SELECT DISTINCT date_trunc('month', event_date)::date AS month FROM event_logs_unpartitioned
    UNION
    SELECT generate_series(date_trunc('month', now()), date_trunc('month', now()) + interval '3 months', interval '1 month')::date
) months ORDER BY month;
INSERT INTO event_logs SELECT * FROM event_logs_unpartitioned;
SELECT setval(pg_get_serial_sequence('event_logs', 'id'),
              COALESCE((SELECT max(id) FROM event_logs), 0) + 1, false);
DROP TABLE event_logs_unpartitioned;
CREATE INDEX event_logs_day_branch ON event_logs (event_date, branch_id);
CREATE INDEX event_logs_time ON event_logs (event_timestamp);
CREATE INDEX event_logs_image_path ON event_logs (image_path) WHERE image_path IS NOT NULL;
CREATE INDEX event_logs_thumbnail_path ON event_logs (thumbnail_path) WHERE thumbnail_path IS NOT NULL;
CREATE TRIGGER event_logs_deleted AFTER DELETE ON event_logs
    FOR EACH ROW EXECUTE FUNCTION cctv_event_log_deleted();
