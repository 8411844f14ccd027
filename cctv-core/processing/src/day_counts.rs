//! The day totals a processing batch adds (see [`DayCount`](cctv_core::query::DayCount)).
//!
//! Backends decide which `(re_id, date, branch)` and `(re_id, date)` pairs a batch saw for
//! the first time (race-free, each in its own way); this turns that into one increment per
//! `(date, branch)` plus the all-branches row, in key order so concurrent writers lock the
//! counter rows in the same order.

use std::collections::BTreeMap;

use jiff::civil::Date;

use cctv_core::person_day::PreparedDetection;

/// The all-branches row's `branch_id` in the `day_counts` table.
pub const ALL_BRANCHES: i64 = 0;

/// One counter row's increment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DayCountDelta {
    pub date: Date,
    /// A branch id, or [`ALL_BRANCHES`].
    pub branch_key: i64,
    pub detections: i64,
    pub detected_count: i64,
    pub persons: i64,
    /// Event logs written for these detections (one each).
    pub events: i64,
}

/// Increments for `batch` (the detections actually stored by this transaction).
/// `first_at_branch` holds one `(date, branch)` per person first seen at that branch that
/// day by this batch; `first_of_day` one date per person first seen at all that day.
pub(crate) fn day_count_deltas<'a>(
    batch: impl IntoIterator<Item = &'a PreparedDetection>,
    first_at_branch: impl IntoIterator<Item = (Date, i64)>,
    first_of_day: impl IntoIterator<Item = Date>,
) -> Vec<DayCountDelta> {
    let mut rows: BTreeMap<(Date, i64), DayCountDelta> = BTreeMap::new();
    for d in batch {
        let count = i64::from(d.job.detected_count);
        for key in [d.job.branch_id, ALL_BRANCHES] {
            let r = row(&mut rows, d.date, key);
            r.detections += 1;
            r.detected_count += count;
            r.events += 1;
        }
    }
    for (date, branch) in first_at_branch {
        row(&mut rows, date, branch).persons += 1;
    }
    for date in first_of_day {
        row(&mut rows, date, ALL_BRANCHES).persons += 1;
    }
    rows.into_values().collect()
}

/// One `device_day_counts` row's increment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceDayDelta {
    pub date: Date,
    pub branch_id: i64,
    pub device_id: String,
    pub detections: i64,
    pub detected_count: i64,
}

/// Per-device increments for `batch`, in key order.
pub(crate) fn device_day_deltas<'a>(
    batch: impl IntoIterator<Item = &'a PreparedDetection>,
) -> Vec<DeviceDayDelta> {
    let mut rows: BTreeMap<(Date, i64, &'a str), (i64, i64)> = BTreeMap::new();
    for d in batch {
        let r = rows
            .entry((d.date, d.job.branch_id, d.job.device_id.as_str()))
            .or_default();
        r.0 += 1;
        r.1 += i64::from(d.job.detected_count);
    }
    rows.into_iter()
        .map(
            |((date, branch_id, device), (detections, detected_count))| DeviceDayDelta {
                date,
                branch_id,
                device_id: device.to_owned(),
                detections,
                detected_count,
            },
        )
        .collect()
}

/// One `hour_counts` row's increment: detections at a branch in one local hour of a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourDelta {
    pub date: Date,
    pub branch_id: i64,
    /// Local hour, 0–23.
    pub hour: i8,
    pub detections: i64,
}

/// Per-hour increments for `batch`, in key order.
pub(crate) fn hour_deltas<'a>(
    batch: impl IntoIterator<Item = &'a PreparedDetection>,
) -> Vec<HourDelta> {
    let mut rows: BTreeMap<(Date, i64, i8), i64> = BTreeMap::new();
    for d in batch {
        *rows.entry((d.date, d.job.branch_id, d.hour)).or_default() += 1;
    }
    rows.into_iter()
        .map(|((date, branch_id, hour), detections)| HourDelta {
            date,
            branch_id,
            hour,
            detections,
        })
        .collect()
}

fn row(
    rows: &mut BTreeMap<(Date, i64), DayCountDelta>,
    date: Date,
    branch_key: i64,
) -> &mut DayCountDelta {
    rows.entry((date, branch_key)).or_insert(DayCountDelta {
        date,
        branch_key,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    fn det(branch: i64, day: Date, count: i32) -> PreparedDetection {
        crate::tests::det("P1", branch, count, &format!("{day}T00:00:00Z"))
    }

    #[test]
    fn adds_per_branch_and_overall_in_key_order() {
        let (d1, d2) = (date(2026, 11, 27), date(2026, 11, 28));
        let batch = [det(2, d2, 3), det(1, d2, 1), det(2, d1, 2)];
        let deltas = day_count_deltas(&batch, [(d2, 2), (d2, 1)], [d2]);
        let keys: Vec<(Date, i64)> = deltas.iter().map(|r| (r.date, r.branch_key)).collect();
        assert_eq!(keys, vec![(d1, 0), (d1, 2), (d2, 0), (d2, 1), (d2, 2)]);
        let all_d2 = deltas[2];
        assert_eq!(
            (all_d2.detections, all_d2.detected_count, all_d2.persons),
            (2, 4, 1)
        );
        let b2_d2 = deltas[4];
        assert_eq!(
            (b2_d2.detections, b2_d2.detected_count, b2_d2.persons),
            (1, 3, 1)
        );
        assert_eq!(
            deltas[1].persons, 0,
            "no first sighting on day 1 in this batch"
        );
        let devices = device_day_deltas(&batch);
        assert_eq!(devices.len(), 3);
        assert_eq!(
            (
                devices[2].date,
                devices[2].branch_id,
                devices[2].detected_count
            ),
            (d2, 2, 3)
        );
    }
}
