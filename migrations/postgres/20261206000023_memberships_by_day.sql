-- The SQLite twin of this step stores memberships in day order, so that its covering
-- visits index, rewritten by every processed detection, is no longer needed. PostgreSQL
-- tables have no such order (a heap and separate indexes); its visits index stays, and
-- nothing changes here. The file keeps both backends' histories step for step.
SELECT 1;
