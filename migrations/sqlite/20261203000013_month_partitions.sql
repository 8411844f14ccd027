-- Twin of the PostgreSQL migration that partitions detections and the event log by month.
-- SQLite has no partitions: its detections stay in one table (one node, one file), so
-- this step changes nothing here.
SELECT 1;
