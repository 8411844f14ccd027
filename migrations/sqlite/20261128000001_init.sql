-- cctv schema for SQLite. Timestamps are UTC text 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (fixed
-- width, so text order is time order); dates are local dates 'YYYY-MM-DD' in the
-- configured timezone; JSON is text.

-- Caches in every process compare these stamps to notice changes made elsewhere.
CREATE TABLE change_stamps (
    topic TEXT PRIMARY KEY,
    stamp INTEGER NOT NULL DEFAULT 0
);
INSERT INTO change_stamps (topic, stamp) VALUES ('estate', 0), ('credentials', 0);

CREATE TABLE company_groups (
    id            INTEGER PRIMARY KEY,
    province_code TEXT NOT NULL UNIQUE,
    province_name TEXT NOT NULL,
    group_name    TEXT NOT NULL,
    address       TEXT,
    phone         TEXT,
    email         TEXT,
    status        TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE company_branches (
    id          INTEGER PRIMARY KEY,
    group_id    INTEGER NOT NULL REFERENCES company_groups (id) ON DELETE CASCADE,
    branch_code TEXT NOT NULL UNIQUE,
    branch_name TEXT NOT NULL,
    city        TEXT NOT NULL,
    address     TEXT,
    latitude    REAL,
    longitude   REAL,
    phone       TEXT,
    email       TEXT,
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX company_branches_group ON company_branches (group_id);

CREATE TABLE device_masters (
    id                 INTEGER PRIMARY KEY,
    device_id          TEXT NOT NULL UNIQUE,
    device_name        TEXT NOT NULL,
    device_type        TEXT NOT NULL DEFAULT 'camera' CHECK (device_type IN ('camera', 'node_ai', 'mikrotik', 'cctv')),
    branch_id          INTEGER NOT NULL REFERENCES company_branches (id) ON DELETE CASCADE,
    -- AES-GCM ciphertexts (base64), never plain text.
    url_encrypted      TEXT,
    username_encrypted TEXT,
    password_encrypted TEXT,
    notes              TEXT,
    status             TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE INDEX device_masters_branch ON device_masters (branch_id);

CREATE TABLE branch_event_settings (
    id                    INTEGER PRIMARY KEY,
    branch_id             INTEGER NOT NULL REFERENCES company_branches (id) ON DELETE CASCADE,
    device_id             TEXT NOT NULL REFERENCES device_masters (device_id) ON DELETE CASCADE ON UPDATE CASCADE,
    is_active             INTEGER NOT NULL DEFAULT 1,
    send_image            INTEGER NOT NULL DEFAULT 0,
    send_message          INTEGER NOT NULL DEFAULT 0,
    send_notification     INTEGER NOT NULL DEFAULT 1,
    whatsapp_enabled      INTEGER NOT NULL DEFAULT 0,
    whatsapp_numbers      TEXT NOT NULL DEFAULT '[]',
    message_template      TEXT,
    notification_template TEXT,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    UNIQUE (branch_id, device_id)
);
CREATE INDEX branch_event_settings_device ON branch_event_settings (device_id);

-- One row per person per local day.
CREATE TABLE re_id_masters (
    id                           INTEGER PRIMARY KEY,
    re_id                        TEXT NOT NULL,
    detection_date               TEXT NOT NULL,
    detection_time               TEXT,
    person_name                  TEXT,
    appearance_features          TEXT,
    first_detected_at            TEXT,
    last_detected_at             TEXT,
    total_detection_branch_count INTEGER NOT NULL DEFAULT 0,
    total_actual_count           INTEGER NOT NULL DEFAULT 0,
    status                       TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    created_at                   TEXT NOT NULL,
    updated_at                   TEXT NOT NULL,
    UNIQUE (re_id, detection_date)
);
CREATE INDEX re_id_masters_day ON re_id_masters (detection_date);

-- The branches that counted towards a person-day: the primary key makes the
-- "first detection of this branch today" decision race-free.
CREATE TABLE re_id_branch_days (
    re_id          TEXT NOT NULL,
    detection_date TEXT NOT NULL,
    branch_id      INTEGER NOT NULL,
    PRIMARY KEY (re_id, detection_date, branch_id)
) WITHOUT ROWID;

-- One row per detection event.
CREATE TABLE re_id_branch_detections (
    id                  INTEGER PRIMARY KEY,
    re_id               TEXT NOT NULL,
    branch_id           INTEGER NOT NULL REFERENCES company_branches (id) ON DELETE CASCADE,
    device_id           TEXT NOT NULL REFERENCES device_masters (device_id) ON DELETE CASCADE ON UPDATE CASCADE,
    detection_timestamp TEXT NOT NULL,
    detection_date      TEXT NOT NULL,
    detection_hour      INTEGER NOT NULL,
    detected_count      INTEGER NOT NULL DEFAULT 1,
    detection_data      TEXT,
    person_features     TEXT,
    job_id              TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE INDEX re_id_branch_detections_day_branch ON re_id_branch_detections (detection_date, branch_id);
CREATE INDEX re_id_branch_detections_person ON re_id_branch_detections (re_id, detection_date);
CREATE INDEX re_id_branch_detections_time ON re_id_branch_detections (detection_timestamp);

CREATE TABLE event_logs (
    id                INTEGER PRIMARY KEY,
    branch_id         INTEGER NOT NULL REFERENCES company_branches (id) ON DELETE CASCADE,
    device_id         TEXT NOT NULL REFERENCES device_masters (device_id) ON DELETE CASCADE ON UPDATE CASCADE,
    re_id             TEXT,
    event_type        TEXT NOT NULL DEFAULT 'detection' CHECK (event_type IN ('detection', 'alert', 'motion', 'manual')),
    detected_count    INTEGER NOT NULL DEFAULT 0,
    image_path        TEXT,
    image_sent        INTEGER NOT NULL DEFAULT 0,
    message_sent      INTEGER NOT NULL DEFAULT 0,
    notification_sent INTEGER NOT NULL DEFAULT 0,
    event_data        TEXT,
    event_timestamp   TEXT NOT NULL,
    event_date        TEXT NOT NULL,
    detection_id      INTEGER,
    job_id            TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE INDEX event_logs_day_branch ON event_logs (event_date, branch_id);
CREATE INDEX event_logs_time ON event_logs (event_timestamp);

CREATE TABLE api_credentials (
    id              INTEGER PRIMARY KEY,
    credential_name TEXT NOT NULL,
    -- The public key is the lookup id; only the SHA-256 of the secret is kept.
    api_key         TEXT NOT NULL UNIQUE,
    secret_hash     BLOB NOT NULL,
    branch_id       INTEGER REFERENCES company_branches (id) ON DELETE CASCADE,
    -- Deleting the device deletes a device-scoped credential (never widens its scope).
    device_id       TEXT REFERENCES device_masters (device_id) ON DELETE CASCADE ON UPDATE CASCADE,
    permissions     TEXT NOT NULL DEFAULT '{"read":true,"write":true}',
    rate_limit      INTEGER NOT NULL DEFAULT 10000 CHECK (rate_limit > 0),
    expires_at      TEXT,
    last_used_at    TEXT,
    status          TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'expired')),
    created_by      INTEGER,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

-- The job queue. A job is claimed by a lease; completion commits with its effects.
CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,
    queue           TEXT NOT NULL,
    kind            TEXT NOT NULL,
    priority        INTEGER NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'completed', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL,
    available_at    TEXT NOT NULL,
    lease_owner     TEXT,
    lease_until     TEXT,
    last_error      TEXT,
    result          TEXT,
    -- 0 when the job was not submitted with a credential.
    credential_id   INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    finished_at     TEXT
);
CREATE UNIQUE INDEX jobs_idempotency ON jobs (credential_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_ready ON jobs (queue, priority, available_at) WHERE status = 'queued';
CREATE INDEX jobs_failed ON jobs (queue, finished_at) WHERE status = 'failed';

-- Report days that ingest changed since their last generation.
CREATE TABLE report_dirty_days (
    report_date TEXT NOT NULL,
    branch_id   INTEGER NOT NULL,
    marked_at   TEXT NOT NULL,
    PRIMARY KEY (report_date, branch_id)
) WITHOUT ROWID;

CREATE TABLE storage_files (
    id            INTEGER PRIMARY KEY,
    file_path     TEXT NOT NULL UNIQUE,
    file_type     TEXT NOT NULL,
    file_size     INTEGER NOT NULL,
    width         INTEGER,
    height        INTEGER,
    storage_disk  TEXT NOT NULL DEFAULT 'local',
    related_table TEXT,
    related_id    INTEGER,
    metadata      TEXT,
    uploaded_by   INTEGER,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX storage_files_related ON storage_files (related_table, related_id);
CREATE INDEX storage_files_created ON storage_files (created_at);

CREATE TRIGGER company_groups_stamp_insert AFTER INSERT ON company_groups BEGIN UPDATE change_stamps SET stamp = stamp + 1 WHERE topic = 'estate'; END;
CREATE TRIGGER company_groups_stamp_update AFTER UPDATE ON company_groups BEGIN UPDATE change_stamps SET stamp = stamp + 1 WHERE topic = 'estate'; END;
CREATE TRIGGER company_groups_stamp_delete AFTER DELETE ON company_groups BEGIN UPDATE change_stamps SET stamp = stamp + 1 WHERE topic = 'estate'; END;
CREATE TRIGGER company_branches_stamp_insert AFTER INSERT ON company_branches BEGIN UPDATE change_stamps SET stamp = stamp + 1 WHERE topic = 'estate'; END;
CREATE TRIGGER company_branches_stamp_update AFTER UPDATE ON company_branches BEGIN UPDATE change_stamps SET stamp = stamp + 1 WHERE topic = 'estate'; END;
CREATE TRIGGER company_branches_stamp_delete AFTER DELETE ON company_branches BEGIN UPDATE change_stamps SET stamp = stamp + 1 WHERE topic = 'estate'; END;
CREATE TRIGGER device_masters_stamp_insert AFTER INSERT ON device_masters BEGIN UPDATE change_stamps SET stamp = stamp + 1 WHERE topic = 'estate'; END;
CREATE TRIGGER device_masters_stamp_update AFTER UPDATE ON device_masters BEGIN UPDATE change_stamps SET stamp = stamp + 1 WHERE topic = 'estate'; END;
CREATE TRIGGER device_masters_stamp_delete AFTER DELETE ON device_masters BEGIN UPDATE change_stamps SET stamp = stamp + 1 WHERE topic = 'estate'; END;
CREATE TRIGGER api_credentials_stamp_insert AFTER INSERT ON api_credentials BEGIN UPDATE change_stamps SET stamp = stamp + 1 WHERE topic = 'credentials'; END;
CREATE TRIGGER api_credentials_stamp_delete AFTER DELETE ON api_credentials BEGIN UPDATE change_stamps SET stamp = stamp + 1 WHERE topic = 'credentials'; END;
-- last_used_at is written often and does not change what a request may do.
CREATE TRIGGER api_credentials_stamp_update
    AFTER UPDATE OF credential_name, api_key, secret_hash, branch_id, device_id, permissions, rate_limit, expires_at, status
    ON api_credentials
BEGIN UPDATE change_stamps SET stamp = stamp + 1 WHERE topic = 'credentials'; END;
