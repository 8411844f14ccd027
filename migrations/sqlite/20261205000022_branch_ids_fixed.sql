-- The PostgreSQL twin of this step refuses a new id for a branch that detections or event
-- logs name, as the foreign keys it dropped did. SQLite kept its foreign keys, which still
-- refuse it. Nothing changes; the file keeps both backends' histories step for step.
SELECT 1;
