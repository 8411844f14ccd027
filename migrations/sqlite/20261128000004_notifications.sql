-- Notification delivery state (SPEC §7). Timestamps are UTC text as in the init migration.

-- One row per (event, recipient, channel): the latest state of that send. The unique key
-- is what makes a retry skip recipients that already got the message.
--   sent        the provider accepted the message
--   failed      the last attempt failed; `permanent` = 1 when the provider rejected it
--               (never retried), 0 when the job will try again
--   suppressed  inside the recipient's cooldown: not sent, waiting to be summarised in
--               the digest line of the next message that is sent
--   digested    a suppressed send that a later message's digest line has counted
CREATE TABLE notification_deliveries (
    id                  INTEGER PRIMARY KEY,
    event_log_id        INTEGER NOT NULL REFERENCES event_logs (id) ON DELETE CASCADE,
    job_id              TEXT,
    branch_id           INTEGER NOT NULL,
    device_id           TEXT NOT NULL,
    recipient           TEXT NOT NULL,
    channel             TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('sent', 'failed', 'suppressed', 'digested')),
    permanent           INTEGER NOT NULL DEFAULT 0,
    provider_message_id TEXT,
    latency_ms          INTEGER,
    error_code          TEXT,
    error_message       TEXT,
    attempt             INTEGER NOT NULL,
    digest_count        INTEGER NOT NULL DEFAULT 0,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    UNIQUE (event_log_id, recipient, channel)
);
CREATE INDEX notification_deliveries_pending
    ON notification_deliveries (branch_id, recipient, channel) WHERE status = 'suppressed';

-- The cooldown window of each (branch, recipient, channel): taken atomically by the event
-- whose message opens it, so concurrent workers never both send inside one window.
CREATE TABLE notification_cooldowns (
    branch_id    INTEGER NOT NULL,
    recipient    TEXT NOT NULL,
    channel      TEXT NOT NULL,
    event_log_id INTEGER NOT NULL,
    window_start TEXT NOT NULL,
    PRIMARY KEY (branch_id, recipient, channel)
) WITHOUT ROWID;

-- Daily totals folded from logs/whatsapp_messages/YYYY-MM-DD.log (original §3.2 / §6.5).
-- No foreign keys: a summary outlives the devices it counts, and folding a day must not
-- fail because a device was deleted since.
CREATE TABLE whatsapp_delivery_summary (
    id                   INTEGER PRIMARY KEY,
    summary_date         TEXT NOT NULL,
    branch_id            INTEGER NOT NULL,
    device_id            TEXT NOT NULL,
    total_sent           INTEGER NOT NULL DEFAULT 0,
    total_delivered      INTEGER NOT NULL DEFAULT 0,
    total_failed         INTEGER NOT NULL DEFAULT 0,
    total_pending        INTEGER NOT NULL DEFAULT 0,
    avg_delivery_time_ms INTEGER,
    unique_recipients    INTEGER NOT NULL DEFAULT 0,
    messages_with_image  INTEGER NOT NULL DEFAULT 0,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    UNIQUE (summary_date, branch_id, device_id)
);
CREATE INDEX whatsapp_delivery_summary_branch ON whatsapp_delivery_summary (summary_date, branch_id);
