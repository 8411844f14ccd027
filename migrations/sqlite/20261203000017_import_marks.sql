-- Where `cctv import laravel` stands in a source database: per source (the original
-- database, named without its password) and entity, the highest source id imported. A
-- rerun continues after it, so history is imported once.
CREATE TABLE import_marks (
    id         INTEGER PRIMARY KEY,
    source     TEXT NOT NULL,
    entity     TEXT NOT NULL,
    last_id    INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (source, entity)
);
