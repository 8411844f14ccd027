-- Event webhooks per (branch, device): when `webhook_enabled`, every event is POSTed once
-- to each endpoint of `webhooks`, signed with the endpoint's own secret. Each entry is the
-- endpoint ({"url", "secret"}) encrypted with the node's secret key, since the URL often
-- carries a token and the secret must be readable to sign.
ALTER TABLE branch_event_settings ADD COLUMN webhook_enabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE branch_event_settings ADD COLUMN webhooks TEXT NOT NULL DEFAULT '[]';
