-- People, sessions/tokens, audit trail, notification settings, streams and layouts.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    email         TEXT NOT NULL UNIQUE,
    -- argon2id PHC string; never returned by any API.
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    status        TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    -- Operator scope: JSON arrays of branch and group ids.
    branch_ids    TEXT NOT NULL DEFAULT '[]',
    group_ids     TEXT NOT NULL DEFAULT '[]',
    last_login_at TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

-- Bearer tokens of people: "<id>|<secret>", only the SHA-256 of the secret is kept.
CREATE TABLE user_tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   BLOB NOT NULL,
    expires_at   TEXT NOT NULL,
    last_used_at TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX user_tokens_user ON user_tokens (user_id);

CREATE TABLE audit_logs (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER,
    user_email  TEXT,
    action      TEXT NOT NULL,
    entity      TEXT NOT NULL,
    entity_id   TEXT,
    before_data TEXT,
    after_data  TEXT,
    ip_address  TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX audit_logs_time ON audit_logs (created_at);
CREATE INDEX audit_logs_entity ON audit_logs (entity, entity_id);

CREATE TABLE whatsapp_settings (
    id               INTEGER PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    description      TEXT,
    phone_numbers    TEXT NOT NULL DEFAULT '[]',
    message_template TEXT NOT NULL,
    is_active        INTEGER NOT NULL DEFAULT 1,
    is_default       INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE UNIQUE INDEX whatsapp_settings_one_default ON whatsapp_settings (is_default) WHERE is_default = 1;

CREATE TABLE cctv_streams (
    id                 INTEGER PRIMARY KEY,
    branch_id          INTEGER NOT NULL REFERENCES company_branches (id) ON DELETE CASCADE,
    device_id          TEXT NOT NULL REFERENCES device_masters (device_id) ON DELETE CASCADE ON UPDATE CASCADE,
    stream_name        TEXT NOT NULL,
    -- AES-GCM ciphertexts (base64).
    url_encrypted      TEXT NOT NULL,
    username_encrypted TEXT,
    password_encrypted TEXT,
    stream_protocol    TEXT NOT NULL CHECK (stream_protocol IN ('rtsp', 'rtmp', 'hls', 'http', 'mjpeg', 'webrtc')),
    position           INTEGER NOT NULL DEFAULT 1,
    resolution         TEXT NOT NULL DEFAULT '1920x1080',
    fps                INTEGER NOT NULL DEFAULT 30,
    status             TEXT NOT NULL DEFAULT 'unknown' CHECK (status IN ('unknown', 'online', 'offline', 'error', 'maintenance')),
    last_checked_at    TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE INDEX cctv_streams_branch ON cctv_streams (branch_id);
CREATE INDEX cctv_streams_device ON cctv_streams (device_id);

CREATE TABLE cctv_layout_settings (
    id              INTEGER PRIMARY KEY,
    layout_name     TEXT NOT NULL,
    layout_type     TEXT NOT NULL CHECK (layout_type IN ('4-window', '6-window', '8-window')),
    description     TEXT,
    total_positions INTEGER NOT NULL,
    is_default      INTEGER NOT NULL DEFAULT 0,
    is_active       INTEGER NOT NULL DEFAULT 1,
    created_by      INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE UNIQUE INDEX cctv_layouts_one_default ON cctv_layout_settings (is_default) WHERE is_default = 1;

CREATE TABLE cctv_position_settings (
    id              INTEGER PRIMARY KEY,
    layout_id       INTEGER NOT NULL REFERENCES cctv_layout_settings (id) ON DELETE CASCADE,
    position_number INTEGER NOT NULL,
    branch_id       INTEGER REFERENCES company_branches (id) ON DELETE SET NULL,
    device_id       TEXT REFERENCES device_masters (device_id) ON DELETE SET NULL ON UPDATE CASCADE,
    position_name   TEXT,
    is_enabled      INTEGER NOT NULL DEFAULT 1,
    auto_switch     INTEGER NOT NULL DEFAULT 0,
    switch_interval INTEGER NOT NULL DEFAULT 30,
    quality         TEXT NOT NULL DEFAULT 'high' CHECK (quality IN ('low', 'medium', 'high')),
    resolution      TEXT NOT NULL DEFAULT '1920x1080',
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (layout_id, position_number)
);
