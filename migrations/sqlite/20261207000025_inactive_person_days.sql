-- The PostgreSQL twin of this step indexes the inactive person-days, which its processing
-- asks about for every batch. SQLite's single writer reads each unknown person-day's row
-- whole (status and features) and remembers it (see the processing memory), so nothing
-- changes here. The file keeps both backends' histories step for step.
SELECT 1;
