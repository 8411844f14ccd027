//! The tables of the estate, of device credentials and of stored files, described once for the generic
//! [`RecordStore`](crate::records::RecordStore) (`cctv-admin` describes the management
//! tables the same way).

use crate::records::ColumnType::{Bytes, Float, Int, Json, Text, Timestamp};
use crate::records::{Table, col};

pub static GROUPS: Table = Table {
    name: "company_groups",
    columns: &[
        col("province_code", Text),
        col("province_name", Text),
        col("group_name", Text),
        col("address", Text),
        col("phone", Text),
        col("email", Text),
        col("status", Text),
    ],
    search: &["province_code", "province_name", "group_name"],
};

pub static BRANCHES: Table = Table {
    name: "company_branches",
    columns: &[
        col("group_id", Int),
        col("branch_code", Text),
        col("branch_name", Text),
        col("city", Text),
        col("address", Text),
        col("latitude", Float),
        col("longitude", Float),
        col("phone", Text),
        col("email", Text),
        col("status", Text),
    ],
    search: &["branch_code", "branch_name", "city"],
};

pub static DEVICES: Table = Table {
    name: "device_masters",
    columns: &[
        col("device_id", Text),
        col("device_name", Text),
        col("device_type", Text),
        col("branch_id", Int),
        col("url_encrypted", Text),
        col("username_encrypted", Text),
        col("password_encrypted", Text),
        col("notes", Text),
        col("status", Text),
    ],
    search: &["device_id", "device_name"],
};

pub static CREDENTIALS: Table = Table {
    name: "api_credentials",
    columns: &[
        col("credential_name", Text),
        col("api_key", Text),
        col("secret_hash", Bytes),
        col("branch_id", Int),
        col("device_id", Text),
        col("permissions", Json),
        col("rate_limit", Int),
        col("expires_at", Timestamp),
        col("last_used_at", Timestamp),
        col("status", Text),
        col("created_by", Int),
    ],
    search: &["credential_name", "api_key"],
};

/// `storage_files`: every blob the system stored (originals, processed images, thumbnails).
pub static STORAGE_FILES: Table = Table {
    name: "storage_files",
    columns: &[
        col("file_path", Text),
        col("file_type", Text),
        col("file_size", Int),
        col("width", Int),
        col("height", Int),
        col("storage_disk", Text),
        col("related_table", Text),
        col("related_id", Int),
        col("metadata", Json),
        col("uploaded_by", Int),
    ],
    search: &["file_path"],
};

/// The file-related columns of `event_logs` (the image job and cleanup change only these).
pub static EVENT_LOG_FILES: Table = Table {
    name: "event_logs",
    columns: &[
        col("branch_id", Int),
        col("image_path", Text),
        col("thumbnail_path", Text),
        col("image_error", Text),
        col("event_timestamp", Timestamp),
    ],
    search: &[],
};
