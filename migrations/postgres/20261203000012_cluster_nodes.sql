-- The nodes serving from this database, for the checks a node makes when it starts: the
-- others must use the same keys (each node keeps a check value made with its keys) and
-- see the same image store. A node updates `seen_at` while it runs; rows not seen for a
-- while are nodes that stopped.
CREATE TABLE cluster_nodes (
    node_id       TEXT PRIMARY KEY,
    listen        TEXT NOT NULL,
    blob_store    TEXT NOT NULL,
    secret_check  TEXT NOT NULL,
    signing_check TEXT NOT NULL,
    started_at    TIMESTAMPTZ NOT NULL,
    seen_at       TIMESTAMPTZ NOT NULL
);

-- Requests granted per credential and clock hour, across all nodes: nodes lease slices
-- of the hourly limit from here (`last_grant` is what the latest lease got).
CREATE TABLE rate_windows (
    credential_id BIGINT NOT NULL,
    hour          BIGINT NOT NULL,
    used          INTEGER NOT NULL DEFAULT 0,
    last_grant    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (credential_id, hour)
);

-- Login attempts per account (`account:<email>`) and client address (`ip:<address>`)
-- within the throttle window, counted by every node.
CREATE TABLE login_attempts (
    key      TEXT PRIMARY KEY,
    attempts INTEGER NOT NULL,
    since    TIMESTAMPTZ NOT NULL
);
