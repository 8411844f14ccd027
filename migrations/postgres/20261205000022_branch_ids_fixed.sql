-- The foreign keys dropped in the previous step also refused a new id for a branch that
-- detections or event logs name (they were NO ACTION on update). Nothing in cctv changes a
-- branch id; this keeps it refused for anyone else, instead of leaving rows pointing at
-- an id that no longer exists.
CREATE FUNCTION cctv_branch_id_fixed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM re_id_branch_detections WHERE branch_id = OLD.id)
       OR EXISTS (SELECT 1 FROM event_logs WHERE branch_id = OLD.id) THEN
        RAISE EXCEPTION 'branch % has detections or events; its id cannot change', OLD.id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER company_branches_id_fixed AFTER UPDATE OF id ON company_branches
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION cctv_branch_id_fixed();
