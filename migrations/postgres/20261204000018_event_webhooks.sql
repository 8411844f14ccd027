-- Event webhooks per (branch, device): when `webhook_enabled`, every event is POSTed once
-- to each endpoint of `webhooks`, signed with the endpoint's own secret. Each entry is the
-- endpoint ({"url", "secret"}) encrypted with the node's secret key, since the URL often
-- carries a token and the secret must be readable to sign.
ALTER TABLE branch_event_settings ADD COLUMN webhook_enabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE branch_event_settings ADD COLUMN webhooks JSONB NOT NULL DEFAULT '[]';
