-- The original (Laravel) system's tables that `cctv import laravel` reads, with the
-- types, defaults and constraints its migrations leave in PostgreSQL. Timestamps carry no
-- time zone: they are the application's local time.

CREATE TABLE users (
    id                bigserial PRIMARY KEY,
    name              varchar(255) NOT NULL,
    email             varchar(255) NOT NULL UNIQUE,
    email_verified_at timestamp(0) NULL,
    password          varchar(255) NOT NULL,
    role              varchar(255) NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'user')),
    remember_token    varchar(100) NULL,
    created_at        timestamp(0) NULL,
    updated_at        timestamp(0) NULL
);

CREATE TABLE company_groups (
    id            bigserial PRIMARY KEY,
    province_code varchar(10) NOT NULL UNIQUE,
    province_name varchar(100) NOT NULL,
    group_name    varchar(150) NOT NULL,
    address       text NULL,
    phone         varchar(20) NULL,
    email         varchar(100) NULL,
    status        varchar(20) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    created_at    timestamp(0) NULL,
    updated_at    timestamp(0) NULL
);

CREATE TABLE company_branches (
    id          bigserial PRIMARY KEY,
    group_id    bigint NOT NULL REFERENCES company_groups (id) ON DELETE CASCADE,
    branch_code varchar(50) NOT NULL UNIQUE,
    branch_name varchar(150) NOT NULL,
    city        varchar(100) NOT NULL,
    address     text NULL,
    latitude    decimal(10, 8) NULL,
    longitude   decimal(11, 8) NULL,
    phone       varchar(20) NULL,
    email       varchar(100) NULL,
    status      varchar(20) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    created_at  timestamp(0) NULL,
    updated_at  timestamp(0) NULL
);

CREATE TABLE device_masters (
    id          bigserial PRIMARY KEY,
    device_id   varchar(50) NOT NULL UNIQUE,
    device_name varchar(150) NOT NULL,
    device_type varchar(20) NOT NULL DEFAULT 'camera'
                CHECK (device_type IN ('camera', 'node_ai', 'mikrotik', 'cctv')),
    branch_id   bigint NOT NULL REFERENCES company_branches (id) ON DELETE CASCADE,
    url         text NULL,
    username    text NULL,
    password    text NULL,
    notes       text NULL,
    status      varchar(20) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    created_at  timestamp(0) NULL,
    updated_at  timestamp(0) NULL
);

CREATE TABLE branch_event_settings (
    id                    bigserial PRIMARY KEY,
    branch_id             bigint NOT NULL REFERENCES company_branches (id) ON DELETE CASCADE,
    device_id             varchar(50) NOT NULL REFERENCES device_masters (device_id) ON DELETE CASCADE,
    is_active             boolean NOT NULL DEFAULT true,
    send_image            boolean NOT NULL DEFAULT true,
    send_message          boolean NOT NULL DEFAULT true,
    send_notification     boolean NOT NULL DEFAULT true,
    whatsapp_enabled      boolean NOT NULL DEFAULT false,
    whatsapp_numbers      jsonb NULL,
    message_template      text NULL,
    notification_template text NULL,
    created_at            timestamp(0) NULL,
    updated_at            timestamp(0) NULL,
    UNIQUE (branch_id, device_id)
);

CREATE TABLE re_id_masters (
    id                           bigserial PRIMARY KEY,
    re_id                        varchar(100) NOT NULL,
    detection_date               date NOT NULL,
    detection_time               timestamp(0) NULL,
    person_name                  varchar(150) NULL,
    appearance_features          jsonb NULL,
    first_detected_at            timestamp(0) NULL,
    last_detected_at             timestamp(0) NULL,
    total_detection_branch_count integer NOT NULL DEFAULT 0,
    total_actual_count           integer NOT NULL DEFAULT 0,
    status                       varchar(20) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    created_at                   timestamp(0) NULL,
    updated_at                   timestamp(0) NULL,
    CONSTRAINT re_id_masters_re_id_detection_date_unique UNIQUE (re_id, detection_date)
);

CREATE TABLE re_id_branch_detections (
    id                  bigserial PRIMARY KEY,
    re_id               varchar(100) NOT NULL,
    branch_id           bigint NOT NULL REFERENCES company_branches (id) ON DELETE CASCADE,
    device_id           varchar(50) NOT NULL REFERENCES device_masters (device_id) ON DELETE CASCADE,
    detection_timestamp timestamp(0) NOT NULL,
    detected_count      integer NOT NULL DEFAULT 1,
    detection_data      jsonb NULL,
    created_at          timestamp(0) NULL,
    updated_at          timestamp(0) NULL
);
CREATE INDEX re_id_branch_detections_lookup ON re_id_branch_detections (re_id, branch_id, detection_timestamp);

CREATE TABLE event_logs (
    id                bigserial PRIMARY KEY,
    branch_id         bigint NOT NULL REFERENCES company_branches (id) ON DELETE CASCADE,
    device_id         varchar(50) NOT NULL REFERENCES device_masters (device_id) ON DELETE CASCADE,
    re_id             varchar(100) NULL,
    event_type        varchar(20) NOT NULL DEFAULT 'detection'
                      CHECK (event_type IN ('detection', 'alert', 'motion', 'manual')),
    detected_count    integer NOT NULL DEFAULT 0,
    image_path        varchar(255) NULL,
    image_sent        boolean NOT NULL DEFAULT false,
    message_sent      boolean NOT NULL DEFAULT false,
    notification_sent boolean NOT NULL DEFAULT false,
    event_data        jsonb NULL,
    event_timestamp   timestamp(0) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    created_at        timestamp(0) NULL,
    updated_at        timestamp(0) NULL
);

CREATE TABLE api_credentials (
    id              bigserial PRIMARY KEY,
    credential_name varchar(150) NOT NULL,
    api_key         text NOT NULL,
    api_secret      text NOT NULL,
    branch_id       bigint NULL REFERENCES company_branches (id) ON DELETE CASCADE,
    device_id       varchar(50) NULL REFERENCES device_masters (device_id) ON DELETE SET NULL,
    permissions     jsonb NULL,
    rate_limit      integer NOT NULL DEFAULT 1000,
    expires_at      timestamp(0) NULL,
    last_used_at    timestamp(0) NULL,
    status          varchar(20) NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'expired')),
    created_by      bigint NULL REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamp(0) NULL,
    updated_at      timestamp(0) NULL
);
CREATE UNIQUE INDEX api_credentials_api_key_unique ON api_credentials (api_key);

CREATE TABLE whatsapp_settings (
    id               bigserial PRIMARY KEY,
    name             varchar(255) NOT NULL UNIQUE,
    description      varchar(255) NULL,
    phone_numbers    json NOT NULL,
    message_template text NOT NULL,
    is_active        boolean NOT NULL DEFAULT true,
    is_default       boolean NOT NULL DEFAULT false,
    created_at       timestamp(0) NULL,
    updated_at       timestamp(0) NULL
);

CREATE TABLE cctv_streams (
    id              bigserial PRIMARY KEY,
    branch_id       bigint NOT NULL REFERENCES company_branches (id) ON DELETE CASCADE,
    device_id       varchar(50) NOT NULL REFERENCES device_masters (device_id) ON DELETE CASCADE,
    stream_name     varchar(150) NOT NULL,
    stream_url      text NULL,
    stream_username text NULL,
    stream_password text NULL,
    stream_protocol text NULL,
    position        integer NOT NULL DEFAULT 1,
    resolution      varchar(20) NOT NULL DEFAULT '1920x1080',
    fps             integer NOT NULL DEFAULT 30,
    status          varchar(20) NOT NULL DEFAULT 'active',
    last_checked_at timestamp(0) NULL,
    created_at      timestamp(0) NULL,
    updated_at      timestamp(0) NULL
);

CREATE TABLE cctv_layout_settings (
    id              bigserial PRIMARY KEY,
    layout_name     varchar(150) NOT NULL,
    layout_type     varchar(20) NOT NULL CHECK (layout_type IN ('4-window', '6-window', '8-window')),
    description     text NULL,
    total_positions integer NOT NULL,
    is_default      boolean NOT NULL DEFAULT false,
    is_active       boolean NOT NULL DEFAULT true,
    created_by      bigint NULL REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamp(0) NULL,
    updated_at      timestamp(0) NULL
);

CREATE TABLE cctv_position_settings (
    id              bigserial PRIMARY KEY,
    layout_id       bigint NOT NULL REFERENCES cctv_layout_settings (id) ON DELETE CASCADE,
    position_number integer NOT NULL,
    branch_id       bigint NULL REFERENCES company_branches (id) ON DELETE SET NULL,
    device_id       varchar(50) NULL REFERENCES device_masters (device_id) ON DELETE SET NULL,
    position_name   varchar(100) NULL,
    is_enabled      boolean NOT NULL DEFAULT true,
    auto_switch     boolean NOT NULL DEFAULT false,
    switch_interval integer NOT NULL DEFAULT 30,
    quality         varchar(20) NOT NULL DEFAULT 'high' CHECK (quality IN ('low', 'medium', 'high')),
    resolution      varchar(20) NOT NULL DEFAULT '1920x1080',
    created_at      timestamp(0) NULL,
    updated_at      timestamp(0) NULL,
    UNIQUE (layout_id, position_number)
);
