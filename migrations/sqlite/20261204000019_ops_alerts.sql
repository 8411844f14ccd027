-- Operational alerts to people: admins who opted in (`queue_alerts`) get a message on
-- their `phone` when a queue backs up or failed jobs pile up, once per episode, and again
-- when it recovers.
ALTER TABLE users ADD COLUMN phone TEXT;
ALTER TABLE users ADD COLUMN queue_alerts INTEGER NOT NULL DEFAULT 0;

-- One row per episode, shared by every node: `open_alert` holds the alert's name while it
-- lasts and is NULL once closed, so the unique index lets exactly one node open an episode
-- and the conditional update lets exactly one close it. `notified` lists who already got
-- which message ("opened|recovered:channel:recipient"), so a retried send skips them.
CREATE TABLE ops_alert_episodes (
    id               INTEGER PRIMARY KEY,
    alert            TEXT NOT NULL,
    open_alert       TEXT UNIQUE,
    detail           TEXT NOT NULL,
    recovered_detail TEXT,
    opened_at        TEXT NOT NULL,
    closed_at        TEXT,
    notified         TEXT NOT NULL DEFAULT '[]',
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX ops_alert_episodes_alert ON ops_alert_episodes (alert, opened_at);
