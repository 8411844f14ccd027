//! Everything the store holds. Management tables and the record-shaped domain tables
//! (`re_id_masters`, `re_id_branch_days`, `event_logs`, `storage_files`) are generic rows,
//! so the record store and processing see one copy; detections, totals, jobs and
//! idempotency keys, which only this crate reads, are typed.

use std::collections::{BTreeMap, HashMap, HashSet};

use cctv_core::jobs::{JobId, Queue};
use cctv_core::records::Record;
use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::Value;

pub(crate) const PERSON_DAYS: &str = "re_id_masters";
pub(crate) const MEMBERSHIPS: &str = "re_id_branch_days";

/// The rows of one table and its id counter (ids are never reused).
#[derive(Debug, Clone)]
pub(crate) struct Rows {
    pub next_id: i64,
    pub rows: BTreeMap<i64, Record>,
}

impl Default for Rows {
    fn default() -> Self {
        Self {
            next_id: 1,
            rows: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobStatus {
    Queued,
    Completed,
    Failed,
}

#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub queue: Queue,
    pub kind: String,
    pub payload: Value,
    pub status: JobStatus,
    pub attempts: u32,
    pub max_attempts: u32,
    pub available_at: Timestamp,
    /// `(owner, until)`.
    pub lease: Option<(String, Timestamp)>,
    pub last_error: Option<String>,
    pub result: Option<Value>,
    /// 0 when none, as in the SQL schema.
    pub credential_id: i64,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

impl Job {
    /// Completes an attempt with its result.
    pub(crate) fn complete(&mut self, result: Value, now: Timestamp) {
        self.status = JobStatus::Completed;
        self.result = Some(result);
        self.attempts += 1;
        self.lease = None;
        self.finished_at = Some(now);
    }
}

/// One row of `re_id_branch_detections`.
#[derive(Debug, Clone)]
pub(crate) struct Detection {
    pub id: i64,
    pub re_id: String,
    pub branch_id: i64,
    pub device_id: String,
    pub detected_at: Timestamp,
    pub date: Date,
    pub hour: i8,
    pub detected_count: i64,
    pub detection_data: Option<Value>,
    pub person_features: Option<Value>,
    pub created_at: Timestamp,
}

/// A day's running totals for one branch (or all: key [`cctv_processing::day_counts::ALL_BRANCHES`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Totals {
    pub detections: i64,
    pub detected_count: i64,
    pub persons: i64,
    pub events: i64,
}

/// A stored idempotency key.
#[derive(Debug, Clone)]
pub(crate) struct Key {
    pub job: JobId,
    pub request_hash: Option<String>,
    pub created_at: Timestamp,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub tables: HashMap<&'static str, Rows>,
    /// Change stamps: estate, credentials.
    pub estate_stamp: i64,
    pub credentials_stamp: i64,
    /// `(re_id, date)` → row id in `re_id_masters`.
    pub person_index: HashMap<(String, Date), i64>,
    /// `(re_id, date)` → its memberships in `re_id_branch_days`: `(branch, row id)`.
    pub member_index: HashMap<(String, Date), Vec<(i64, i64)>>,
    pub detections: Vec<Detection>,
    pub day_counts: BTreeMap<(Date, i64), Totals>,
    /// `(date, branch, device)` → (detections, detected_count).
    pub device_counts: BTreeMap<(Date, i64, String), (i64, i64)>,
    /// Report days to recompute, with when they were marked (read by the optional reports).
    pub dirty_days: BTreeMap<(Date, i64), Timestamp>,
    pub jobs: BTreeMap<JobId, Job>,
    /// `(credential or 0, DetectionJob::dedup_key)` → key.
    pub keys: HashMap<(i64, String), Key>,
    /// Imported jobs that were processed. Their ids come from the source rows, so an
    /// import run again may accept one again after its answer was pruned; the SQL
    /// backends find its detection row, this backend this set.
    pub processed_imports: HashSet<JobId>,
}

/// A timestamp as record values carry it: RFC 3339, at the microsecond precision the SQL
/// backends store.
pub(crate) fn ts_value(t: Timestamp) -> Value {
    let t = Timestamp::from_microsecond(t.as_microsecond()).unwrap_or(t);
    Value::from(t.to_string())
}

pub(crate) fn get_str<'a>(rec: &'a Record, column: &str) -> Option<&'a str> {
    rec.get(column).and_then(Value::as_str)
}

pub(crate) fn get_i64(rec: &Record, column: &str) -> Option<i64> {
    rec.get(column).and_then(Value::as_i64)
}

pub(crate) fn get_ts(rec: &Record, column: &str) -> Option<Timestamp> {
    get_str(rec, column).and_then(|s| s.parse().ok())
}

pub(crate) fn get_date(rec: &Record, column: &str) -> Option<Date> {
    get_str(rec, column).and_then(|s| s.parse().ok())
}

/// A JSON column as an option (`null` is none).
pub(crate) fn get_json(rec: &Record, column: &str) -> Option<Value> {
    rec.get(column).filter(|v| !v.is_null()).cloned()
}

impl State {
    pub fn rows(&self, table: &str) -> impl Iterator<Item = &Record> {
        self.tables
            .get(table)
            .into_iter()
            .flat_map(|t| t.rows.values())
    }

    pub fn row(&self, table: &str, id: i64) -> Option<&Record> {
        self.tables.get(table).and_then(|t| t.rows.get(&id))
    }

    /// Inserts a row written by the store itself (no checks): assigns the id and the
    /// timestamps. Returns the id.
    pub fn insert_raw(&mut self, table: &'static str, mut rec: Record, now: Timestamp) -> i64 {
        let rows = self.tables.entry(table).or_default();
        let id = rows.next_id;
        rows.next_id += 1;
        rec.insert("id".into(), Value::from(id));
        rec.insert("created_at".into(), ts_value(now));
        rec.insert("updated_at".into(), ts_value(now));
        rows.rows.insert(id, rec);
        id
    }

    pub fn row_mut(&mut self, table: &str, id: i64) -> Option<&mut Record> {
        self.tables.get_mut(table).and_then(|t| t.rows.get_mut(&id))
    }

    /// Rebuilds the person-day and membership indexes after a generic write to their
    /// tables (rare: management edits and deletes).
    pub fn reindex(&mut self) {
        self.person_index.clear();
        self.member_index.clear();
        if let Some(t) = self.tables.get(PERSON_DAYS) {
            for (id, rec) in &t.rows {
                if let (Some(r), Some(d)) = (get_str(rec, "re_id"), get_date(rec, "detection_date"))
                {
                    self.person_index.insert((r.to_owned(), d), *id);
                }
            }
        }
        if let Some(t) = self.tables.get(MEMBERSHIPS) {
            for (id, rec) in &t.rows {
                if let (Some(r), Some(d), Some(b)) = (
                    get_str(rec, "re_id"),
                    get_date(rec, "detection_date"),
                    get_i64(rec, "branch_id"),
                ) {
                    self.member_index
                        .entry((r.to_owned(), d))
                        .or_default()
                        .push((b, *id));
                }
            }
        }
    }
}
