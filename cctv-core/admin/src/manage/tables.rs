//! The management tables (users, tokens, streams, layouts, settings, the audit log, the
//! person registry), described once for the generic
//! [`RecordStore`](cctv_core::records::RecordStore) of `cctv-core`, beside its estate
//! tables (`cctv_core::records::tables`).

use cctv_core::records::ColumnType::{Bool, Bytes, Date, Int, Json, Text, Timestamp};
use cctv_core::records::{Table, col};

pub static USERS: Table = Table {
    name: "users",
    columns: &[
        col("name", Text),
        col("email", Text),
        col("password_hash", Text),
        col("role", Text),
        col("status", Text),
        col("branch_ids", Json),
        col("group_ids", Json),
        col("last_login_at", Timestamp),
        col("phone", Text),
        col("queue_alerts", Bool),
    ],
    search: &["name", "email"],
};

pub static USER_TOKENS: Table = Table {
    name: "user_tokens",
    columns: &[
        col("user_id", Int),
        col("name", Text),
        col("token_hash", Bytes),
        col("expires_at", Timestamp),
        col("last_used_at", Timestamp),
        col("scopes", Json),
    ],
    search: &[],
};

pub static STREAMS: Table = Table {
    name: "cctv_streams",
    columns: &[
        col("branch_id", Int),
        col("device_id", Text),
        col("stream_name", Text),
        col("url_encrypted", Text),
        col("username_encrypted", Text),
        col("password_encrypted", Text),
        col("stream_protocol", Text),
        col("position", Int),
        col("resolution", Text),
        col("fps", Int),
        col("status", Text),
        col("last_checked_at", Timestamp),
    ],
    search: &["stream_name", "device_id"],
};

pub static LAYOUTS: Table = Table {
    name: "cctv_layout_settings",
    columns: &[
        col("layout_name", Text),
        col("layout_type", Text),
        col("description", Text),
        col("total_positions", Int),
        col("is_default", Bool),
        col("is_active", Bool),
        col("created_by", Int),
    ],
    search: &["layout_name", "description"],
};

pub static POSITIONS: Table = Table {
    name: "cctv_position_settings",
    columns: &[
        col("layout_id", Int),
        col("position_number", Int),
        col("branch_id", Int),
        col("device_id", Text),
        col("position_name", Text),
        col("is_enabled", Bool),
        col("auto_switch", Bool),
        col("switch_interval", Int),
        col("quality", Text),
        col("resolution", Text),
    ],
    search: &[],
};

pub static EVENT_SETTINGS: Table = Table {
    name: "branch_event_settings",
    columns: &[
        col("branch_id", Int),
        col("device_id", Text),
        col("is_active", Bool),
        col("send_image", Bool),
        col("send_message", Bool),
        col("send_notification", Bool),
        col("whatsapp_enabled", Bool),
        col("whatsapp_numbers", Json),
        col("message_template", Text),
        col("notification_template", Text),
        col("webhook_enabled", Bool),
        col("webhooks", Json),
    ],
    search: &["device_id"],
};

pub static WHATSAPP_SETTINGS: Table = Table {
    name: "whatsapp_settings",
    columns: &[
        col("name", Text),
        col("description", Text),
        col("phone_numbers", Json),
        col("message_template", Text),
        col("is_active", Bool),
        col("is_default", Bool),
    ],
    search: &["name", "description"],
};

pub static AUDIT_LOGS: Table = Table {
    name: "audit_logs",
    columns: &[
        col("user_id", Int),
        col("user_email", Text),
        col("action", Text),
        col("entity", Text),
        col("entity_id", Text),
        col("before_data", Json),
        col("after_data", Json),
        col("ip_address", Text),
    ],
    search: &["entity", "user_email", "action"],
};

pub static PERSON_DAYS: Table = Table {
    name: "re_id_masters",
    columns: &[
        col("re_id", Text),
        col("detection_date", Date),
        col("person_name", Text),
        col("status", Text),
        col("total_detection_branch_count", Int),
        col("total_actual_count", Int),
        col("first_detected_at", Timestamp),
        col("last_detected_at", Timestamp),
    ],
    search: &["re_id", "person_name"],
};

/// Columns that hold secrets or ciphertext: never in a response, redacted in the audit log.
pub const HIDDEN_COLUMNS: &[&str] = &[
    "password_hash",
    "secret_hash",
    "token_hash",
    "url_encrypted",
    "username_encrypted",
    "password_encrypted",
    "webhooks",
];

/// Which branches saw a person on a day (no id column: only counted).
pub static PERSON_BRANCH_DAYS: Table = Table {
    name: "re_id_branch_days",
    columns: &[
        col("re_id", Text),
        col("detection_date", Date),
        col("branch_id", Int),
    ],
    search: &[],
};
