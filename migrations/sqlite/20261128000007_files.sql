-- Files and access logs (issue 4): processed event images, and daily API usage.

-- The image job points the event at its processed JPEG (image_path) and thumbnail, or
-- records why the upload could not be processed (corrupt, too large).
ALTER TABLE event_logs ADD COLUMN thumbnail_path TEXT;
ALTER TABLE event_logs ADD COLUMN image_error TEXT;
CREATE INDEX event_logs_image_path ON event_logs (image_path) WHERE image_path IS NOT NULL;
CREATE INDEX event_logs_thumbnail_path ON event_logs (thumbnail_path) WHERE thumbnail_path IS NOT NULL;

-- One row per (credential, day, endpoint template, method), rebuilt from the day's access
-- log by `cctv access-log aggregate`. api_credential_id 0 = requests without a device
-- credential (people with bearer tokens, anonymous). No foreign key: usage history
-- outlives a deleted credential.
CREATE TABLE api_usage_summary (
    id                    INTEGER PRIMARY KEY,
    api_credential_id     INTEGER NOT NULL DEFAULT 0,
    summary_date          TEXT NOT NULL,
    endpoint              TEXT NOT NULL,
    method                TEXT NOT NULL,
    total_requests        INTEGER NOT NULL DEFAULT 0,
    success_requests      INTEGER NOT NULL DEFAULT 0,
    error_requests        INTEGER NOT NULL DEFAULT 0,
    avg_response_time_ms  INTEGER,
    max_response_time_ms  INTEGER,
    min_response_time_ms  INTEGER,
    request_bytes         INTEGER NOT NULL DEFAULT 0,
    response_bytes        INTEGER NOT NULL DEFAULT 0,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    UNIQUE (api_credential_id, summary_date, endpoint, method)
);
CREATE INDEX api_usage_summary_date ON api_usage_summary (summary_date, api_credential_id);
