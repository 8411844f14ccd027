-- Processing asks, for every batch, which of its person-days are inactive. With only the
-- unique key to probe, each of the batch's person-days cost a descent of that index and a
-- read of its row to test the status: about 8 µs of the database's time per detection in
-- the ingest benchmark, for an answer that is almost always "none". Inactive person-days
-- are few (an operator marks them), so this index is small and the question reads a page
-- or two per batch. Only a status change writes it.
CREATE INDEX re_id_masters_inactive ON re_id_masters (re_id, detection_date) WHERE status = 'inactive';
