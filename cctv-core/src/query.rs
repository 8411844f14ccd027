//! Shapes of the read side: filters, pages and the records the device API returns.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;
use serde_json::Value;

/// Hard upper bound of `per_page` (the original had none).
pub const MAX_PER_PAGE: u32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
}

impl PageRequest {
    pub fn new(page: u32, per_page: u32) -> Self {
        Self {
            page: page.max(1),
            per_page: per_page.clamp(1, MAX_PER_PAGE),
        }
    }

    pub fn offset(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.per_page)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub page: PageRequest,
}

impl<T> Page<T> {
    pub fn last_page(&self) -> u64 {
        self.total.div_ceil(u64::from(self.page.per_page)).max(1)
    }

    /// 1-based index of the first item shown, `None` on an empty page.
    pub fn from(&self) -> Option<u64> {
        (!self.items.is_empty()).then(|| self.page.offset() + 1)
    }

    pub fn to(&self) -> Option<u64> {
        (!self.items.is_empty()).then(|| self.page.offset() + self.items.len() as u64)
    }
}

/// Filters of the detection lists. All dates are local dates in the configured timezone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DetectionFilter {
    pub date_from: Option<Date>,
    pub date_to: Option<Date>,
    pub branch_id: Option<i64>,
    pub device_id: Option<String>,
    pub re_id: Option<String>,
    /// The branch a scoped credential is limited to.
    pub scope_branch: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BranchRef {
    pub id: i64,
    pub branch_code: String,
    pub branch_name: String,
    pub city: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceRef {
    pub device_id: String,
    pub device_name: String,
    pub device_type: String,
    pub branch_id: i64,
}

/// The person-day a detection counted towards (same re_id and same date).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonDayRef {
    pub re_id: String,
    pub detection_date: Date,
    pub person_name: Option<String>,
    pub status: String,
    pub total_actual_count: i64,
    pub total_detection_branch_count: i64,
}

/// One row of `re_id_branch_detections` with its relations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectionItem {
    pub id: i64,
    pub re_id: String,
    pub branch_id: i64,
    pub device_id: String,
    pub detection_timestamp: Timestamp,
    pub detection_date: Date,
    pub detected_count: i64,
    pub detection_data: Option<Value>,
    pub person_features: Option<Value>,
    pub created_at: Timestamp,
    pub branch: Option<BranchRef>,
    pub device: Option<DeviceRef>,
    pub re_id_master: Option<PersonDayRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryTotals {
    pub total_detections: i64,
    pub total_detected_count: i64,
    pub unique_persons: i64,
    pub unique_branches: i64,
    pub unique_devices: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopBranch {
    pub branch_id: i64,
    pub branch_name: String,
    pub city: String,
    pub detection_count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopPerson {
    pub re_id: String,
    pub detection_count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HourBucket {
    pub hour: i64,
    pub count: i64,
    pub unique_persons: i64,
}

/// Running totals of one local day, for one branch or (`branch_id` `None`) all of them.
/// Kept by the processing transaction itself, so reading a day costs one row whatever the
/// number of detections; each field equals its recomputation from the detection rows
/// (`persons` = distinct `re_id` among that day's detections, inactive person-days included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayCount {
    pub date: Date,
    pub branch_id: Option<i64>,
    pub detections: i64,
    pub detected_count: i64,
    pub persons: i64,
    /// Event logs of that day and branch.
    pub events: i64,
}

/// Detections of one local day at one device (at the branch it was in then).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceDayCount {
    pub date: Date,
    pub branch_id: i64,
    pub device_id: String,
    pub detections: i64,
    pub detected_count: i64,
}

/// Distinct persons over a date range: overall and per branch (branches without any left
/// out).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct RangePersons {
    pub unique_persons: i64,
    pub per_branch: Vec<(i64, i64)>,
}

/// `GET /api/v1/detection/summary`: one local day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectionSummary {
    pub date: Date,
    pub summary: SummaryTotals,
    pub top_branches: Vec<TopBranch>,
    pub top_persons: Vec<TopPerson>,
    /// 24 zero-filled buckets in the configured timezone.
    pub hourly_trend: Vec<HourBucket>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectedBranch {
    pub branch_id: i64,
    pub branch_name: String,
    pub branch_code: String,
    pub city: String,
    /// Detection rows from this branch that day.
    pub detection_count: i64,
    /// Sum of `detected_count` from this branch that day.
    pub total_detected_count: i64,
    pub first_detection: Timestamp,
    pub last_detection: Timestamp,
}

/// `GET /api/v1/person/{re_id}`: the person-day and where it was seen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonDay {
    pub re_id: String,
    pub detection_date: Date,
    pub detection_time: Option<Timestamp>,
    pub person_name: Option<String>,
    pub appearance_features: Option<Value>,
    pub total_detection_branch_count: i64,
    pub total_actual_count: i64,
    pub first_detected_at: Option<Timestamp>,
    pub last_detected_at: Option<Timestamp>,
    pub status: String,
    pub detected_branches: Vec<DetectedBranch>,
}

/// The `statistics` block of `GET /api/v1/branch/{id}/detections`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BranchStatistics {
    pub branch_id: i64,
    pub branch_name: String,
    pub city: String,
    pub date: Date,
    pub total_detections: i64,
    pub total_detected_count: i64,
    pub unique_persons: i64,
    pub unique_devices: i64,
}
