use jiff::civil::date;

use super::{row, tz};
use crate::reporting::{DetectionRow, MonthlyAccumulator, MonthlyReport, ReportError};

fn november(rows: &[DetectionRow], days_counted: u32) -> MonthlyReport {
    let mut month = MonthlyAccumulator::new(2026, 11, tz("Asia/Jakarta")).unwrap();
    for r in rows {
        month.push(r).unwrap();
    }
    month.finish(days_counted)
}

#[test]
fn unique_persons_are_distinct_over_the_month_not_a_sum_or_max_of_days() {
    // p1 on the 1st and the 2nd, p2 on the 2nd, p3 on the 5th (Jakarta is UTC+7).
    let report = november(
        &[
            row("p1", 1, "cam-1", "2026-11-01T03:00:00Z", 1),
            row("p1", 1, "cam-1", "2026-11-02T03:00:00Z", 1),
            row("p2", 1, "cam-1", "2026-11-02T04:00:00Z", 1),
            row("p3", 2, "cam-9", "2026-11-05T04:00:00Z", 1),
        ],
        30,
    );

    let daily: Vec<u64> = report
        .daily_breakdown
        .iter()
        .map(|d| d.unique_persons)
        .collect();
    assert_eq!(&daily[..5], [1, 2, 0, 0, 1]);
    let (sum, max) = (
        daily.iter().sum::<u64>(),
        daily.iter().copied().max().unwrap(),
    );
    assert_eq!((sum, max), (4, 2));
    assert_eq!(report.unique_persons, 3);
    assert_eq!(report.unique_devices, 2);
}

#[test]
fn the_daily_breakdown_has_every_day_of_the_month_in_order() {
    let report = november(&[row("p1", 1, "cam-1", "2026-11-30T16:59:59Z", 2)], 30);

    assert_eq!(report.month, "2026-11");
    assert_eq!(report.daily_breakdown.len(), 30);
    assert!(
        report
            .daily_breakdown
            .iter()
            .zip(1..)
            .all(|(d, day)| d.date == date(2026, 11, day))
    );
    assert_eq!(report.daily_breakdown[29].detected_count, 2);
    assert_eq!(report.busiest_day, Some(date(2026, 11, 30)));
}

#[test]
fn a_row_of_another_local_month_is_refused() {
    let mut month = MonthlyAccumulator::new(2026, 11, tz("Asia/Jakarta")).unwrap();

    // 2026-12-01 00:00 in Jakarta.
    let result = month.push(&row("p1", 1, "cam-1", "2026-11-30T17:00:00Z", 1));

    assert!(matches!(result, Err(ReportError::Rejected(_))));
    assert!(month.add_events(date(2026, 12, 1), 1).is_err());
    assert_eq!(month.finish(30).total_detections, 0);
}

#[test]
fn the_average_divides_by_the_days_counted() {
    let rows: Vec<DetectionRow> = (0..9)
        .map(|i| row(&format!("p{i}"), 1, "cam", "2026-11-03T03:00:00Z", 1))
        .collect();

    assert_eq!(november(&rows, 30).avg_detections_per_day, 0.3);
    assert_eq!(november(&rows, 4).avg_detections_per_day, 2.25);
    // More days than the month has are clamped; none gives 0, not NaN.
    assert_eq!(november(&rows, 99).days_counted, 30);
    assert_eq!(november(&rows, 0).avg_detections_per_day, 0.0);
}

#[test]
fn the_busiest_day_is_the_earliest_of_equals_and_null_when_empty() {
    let report = november(
        &[
            row("p1", 1, "cam", "2026-11-09T03:00:00Z", 1),
            row("p2", 1, "cam", "2026-11-04T03:00:00Z", 1),
        ],
        30,
    );
    assert_eq!(report.busiest_day, Some(date(2026, 11, 4)));

    let empty = november(&[], 30);
    assert_eq!(empty.busiest_day, None);
    assert!(serde_json::to_value(&empty).unwrap()["busiest_day"].is_null());
}

#[test]
fn branches_count_their_own_distinct_persons_and_sort_by_detections() {
    let report = november(
        &[
            row("p1", 7, "a", "2026-11-01T03:00:00Z", 1),
            row("p1", 3, "b", "2026-11-01T04:00:00Z", 1),
            row("p1", 3, "b", "2026-11-02T04:00:00Z", 1),
            row("p2", 3, "b", "2026-11-02T05:00:00Z", 1),
        ],
        30,
    );

    let branches: Vec<(i64, u64, u64)> = report
        .branch_breakdown
        .iter()
        .map(|b| (b.branch_id, b.detections, b.unique_persons))
        .collect();
    assert_eq!(branches, [(3, 3, 2), (7, 1, 1)]);
}

#[test]
fn events_land_on_their_local_day() {
    let mut month = MonthlyAccumulator::new(2026, 11, tz("Asia/Jakarta")).unwrap();
    month
        .push_event("2026-11-01T18:00:00Z".parse().unwrap())
        .unwrap(); // the 2nd, 01:00
    month.add_events(date(2026, 11, 2), 2).unwrap();

    let report = month.finish(30);

    assert_eq!(report.total_events, 3);
    assert_eq!(
        (
            report.daily_breakdown[0].events,
            report.daily_breakdown[1].events
        ),
        (0, 3)
    );
}
