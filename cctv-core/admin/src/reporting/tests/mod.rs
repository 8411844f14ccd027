//! Report maths tests: worked examples per report, and a randomised data set checked against
//! a naive recomputation.

mod daily;
mod dashboard;
mod monthly;
mod naive;

use jiff::tz::TimeZone;

use super::DetectionRow;

fn tz(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap()
}

fn row(
    re_id: &str,
    branch_id: i64,
    device_id: &str,
    at: &str,
    detected_count: i64,
) -> DetectionRow {
    DetectionRow {
        re_id: re_id.into(),
        branch_id,
        device_id: device_id.into(),
        detected_at: at.parse().unwrap(),
        detected_count,
    }
}
