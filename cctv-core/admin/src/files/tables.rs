//! Tables of the file jobs, described once for the generic record store. The file
//! registry (`storage_files`) and the file columns of `event_logs` are the image worker's
//! too, so the core describes them (`cctv_core::records::tables`).

use cctv_core::records::ColumnType::{Date, Int, Text};
use cctv_core::records::{Table, col};

/// `api_usage_summary`: one row per (credential, day, endpoint template, method).
pub static API_USAGE_SUMMARY: Table = Table {
    name: "api_usage_summary",
    columns: &[
        col("api_credential_id", Int),
        col("summary_date", Date),
        col("endpoint", Text),
        col("method", Text),
        col("total_requests", Int),
        col("success_requests", Int),
        col("error_requests", Int),
        col("avg_response_time_ms", Int),
        col("max_response_time_ms", Int),
        col("min_response_time_ms", Int),
        col("request_bytes", Int),
        col("response_bytes", Int),
    ],
    search: &["endpoint"],
};
