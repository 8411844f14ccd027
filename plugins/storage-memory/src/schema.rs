//! The rules the SQLite schema (`migrations/sqlite/*.sql`) enforces on the record tables,
//! restated for the generic record store: column defaults, uniqueness (→ `Conflict`) and
//! foreign keys (→ `Rejected`, with their `ON DELETE` / `ON UPDATE CASCADE` actions).
//! `NOT NULL` and `CHECK` constraints are not restated: the core validates its forms.

use serde_json::{Value, json};

/// What deleting a parent does to its children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnDelete {
    Cascade,
    SetNull,
}

/// `child.column REFERENCES parent (parent_column)`; a changed parent key is cascaded.
#[derive(Debug)]
pub(crate) struct ForeignKey {
    pub child: &'static str,
    pub column: &'static str,
    pub parent: &'static str,
    pub parent_column: &'static str,
    pub on_delete: OnDelete,
}

const fn fk(
    child: &'static str,
    column: &'static str,
    parent: &'static str,
    parent_column: &'static str,
    on_delete: OnDelete,
) -> ForeignKey {
    ForeignKey {
        child,
        column,
        parent,
        parent_column,
        on_delete,
    }
}

use OnDelete::{Cascade, SetNull};

const GROUPS: &str = "company_groups";
const BRANCHES: &str = "company_branches";
const DEVICES: &str = "device_masters";

pub(crate) static FOREIGN_KEYS: &[ForeignKey] = &[
    fk(BRANCHES, "group_id", GROUPS, "id", Cascade),
    fk(DEVICES, "branch_id", BRANCHES, "id", Cascade),
    fk(
        "branch_event_settings",
        "branch_id",
        BRANCHES,
        "id",
        Cascade,
    ),
    fk(
        "branch_event_settings",
        "device_id",
        DEVICES,
        "device_id",
        Cascade,
    ),
    fk("event_logs", "branch_id", BRANCHES, "id", Cascade),
    fk("event_logs", "device_id", DEVICES, "device_id", Cascade),
    fk("api_credentials", "branch_id", BRANCHES, "id", Cascade),
    fk(
        "api_credentials",
        "device_id",
        DEVICES,
        "device_id",
        Cascade,
    ),
    fk("user_tokens", "user_id", "users", "id", Cascade),
    fk("cctv_streams", "branch_id", BRANCHES, "id", Cascade),
    fk("cctv_streams", "device_id", DEVICES, "device_id", Cascade),
    fk("cctv_layout_settings", "created_by", "users", "id", SetNull),
    fk(
        "cctv_position_settings",
        "layout_id",
        "cctv_layout_settings",
        "id",
        Cascade,
    ),
    fk(
        "cctv_position_settings",
        "branch_id",
        BRANCHES,
        "id",
        SetNull,
    ),
    fk(
        "cctv_position_settings",
        "device_id",
        DEVICES,
        "device_id",
        SetNull,
    ),
];

/// A uniqueness rule: no two rows with equal non-null values in all `columns` (SQL: NULLs
/// are distinct); with `only_true`, only among rows where that column is `true` (a partial
/// unique index such as "one default layout").
#[derive(Debug)]
pub(crate) struct Unique {
    pub table: &'static str,
    pub columns: &'static [&'static str],
    pub only_true: Option<&'static str>,
}

const fn unique(table: &'static str, columns: &'static [&'static str]) -> Unique {
    Unique {
        table,
        columns,
        only_true: None,
    }
}

pub(crate) static UNIQUES: &[Unique] = &[
    unique(GROUPS, &["province_code"]),
    unique(BRANCHES, &["branch_code"]),
    unique(DEVICES, &["device_id"]),
    unique("branch_event_settings", &["branch_id", "device_id"]),
    unique("re_id_masters", &["re_id", "detection_date"]),
    unique(
        "re_id_branch_days",
        &["re_id", "detection_date", "branch_id"],
    ),
    unique("api_credentials", &["api_key"]),
    unique("storage_files", &["file_path"]),
    unique("users", &["email"]),
    unique("whatsapp_settings", &["name"]),
    Unique {
        table: "whatsapp_settings",
        columns: &["is_default"],
        only_true: Some("is_default"),
    },
    Unique {
        table: "cctv_layout_settings",
        columns: &["is_default"],
        only_true: Some("is_default"),
    },
    unique("cctv_position_settings", &["layout_id", "position_number"]),
    unique("ops_alert_episodes", &["open_alert"]),
    unique(
        "api_usage_summary",
        &["api_credential_id", "summary_date", "endpoint", "method"],
    ),
];

/// The `DEFAULT` of a column, for an insert that leaves it out.
pub(crate) fn default_value(table: &str, column: &str) -> Value {
    match (table, column) {
        (GROUPS | BRANCHES | DEVICES | "users" | "re_id_masters", "status")
        | ("api_credentials", "status") => json!("active"),
        (DEVICES, "device_type") => json!("camera"),
        ("branch_event_settings", "is_active" | "send_notification") => json!(true),
        (
            "branch_event_settings",
            "send_image" | "send_message" | "whatsapp_enabled" | "webhook_enabled",
        ) => json!(false),
        ("branch_event_settings", "whatsapp_numbers" | "webhooks") => json!([]),
        ("users", "queue_alerts") => json!(false),
        ("ops_alert_episodes", "notified") => json!([]),
        ("re_id_masters", "total_detection_branch_count" | "total_actual_count") => json!(0),
        ("re_id_branch_days", "counted") => json!(true),
        ("event_logs", "event_type") => json!("detection"),
        ("event_logs", "detected_count") => json!(0),
        ("event_logs", "image_sent" | "message_sent" | "notification_sent") => json!(false),
        ("api_credentials", "permissions") => json!({"read": true, "write": true}),
        ("api_credentials", "rate_limit") => json!(10_000),
        ("users", "branch_ids" | "group_ids") => json!([]),
        ("whatsapp_settings", "phone_numbers") => json!([]),
        ("whatsapp_settings" | "cctv_layout_settings", "is_active") => json!(true),
        ("whatsapp_settings" | "cctv_layout_settings", "is_default") => json!(false),
        ("cctv_streams", "position") => json!(1),
        ("cctv_streams" | "cctv_position_settings", "resolution") => json!("1920x1080"),
        ("cctv_streams", "fps") => json!(30),
        ("cctv_streams", "status") => json!("unknown"),
        ("cctv_position_settings", "is_enabled") => json!(true),
        ("cctv_position_settings", "auto_switch") => json!(false),
        ("cctv_position_settings", "switch_interval") => json!(30),
        ("cctv_position_settings", "quality") => json!("high"),
        ("storage_files", "storage_disk") => json!("local"),
        (
            "api_usage_summary",
            "api_credential_id" | "total_requests" | "success_requests" | "error_requests"
            | "request_bytes" | "response_bytes",
        ) => json!(0),
        _ => Value::Null,
    }
}
