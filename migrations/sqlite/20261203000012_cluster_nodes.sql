-- The nodes serving from this database (same schema as PostgreSQL; embedded SQLite has
-- one node, so a server only ever finds itself here).
CREATE TABLE cluster_nodes (
    node_id       TEXT PRIMARY KEY,
    listen        TEXT NOT NULL,
    blob_store    TEXT NOT NULL,
    secret_check  TEXT NOT NULL,
    signing_check TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    seen_at       TEXT NOT NULL
);

-- Requests granted per credential and clock hour across nodes (used by PostgreSQL
-- clusters; the one SQLite node counts in memory).
CREATE TABLE rate_windows (
    credential_id INTEGER NOT NULL,
    hour          INTEGER NOT NULL,
    used          INTEGER NOT NULL DEFAULT 0,
    last_grant    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (credential_id, hour)
) WITHOUT ROWID;

-- Login attempts counted by every node (PostgreSQL clusters; one SQLite node throttles
-- in memory).
CREATE TABLE login_attempts (
    key      TEXT PRIMARY KEY,
    attempts INTEGER NOT NULL,
    since    TEXT NOT NULL
) WITHOUT ROWID;
