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
