-- Idempotency keys are scoped: an `event_id` is unique per (credential, device) — a fleet
-- sharing one API key reuses event ids across devices — and an `Idempotency-Key` header
-- per credential. Stored keys are `e/<device chars>/<device_id>/<event_id>` and
-- `k/<header>`; keys stored before this migration are taken as event ids of their job's
-- device. `request_hash` is the fingerprint of the request stored under the key: a repeat
-- with another fingerprint is a conflict (409), not a retry.
ALTER TABLE jobs ADD COLUMN request_hash TEXT;
UPDATE jobs
SET idempotency_key = 'e/' || length(json_extract(payload, '$.device_id')) || '/'
                    || json_extract(payload, '$.device_id') || '/' || idempotency_key
WHERE idempotency_key IS NOT NULL
  AND queue = 'detections'
  AND json_extract(payload, '$.device_id') IS NOT NULL;
