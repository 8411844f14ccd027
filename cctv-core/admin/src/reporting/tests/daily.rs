use jiff::civil::date;

use super::{row, tz};
use crate::reporting::{DailyAccumulator, DailyReport, ReportError};

fn jakarta_day(rows: &[crate::reporting::DetectionRow]) -> DailyReport {
    let mut day = DailyAccumulator::new(date(2026, 11, 28), tz("Asia/Jakarta"));
    for r in rows {
        day.push(r).unwrap();
    }
    day.finish()
}

#[test]
fn an_empty_day_has_24_zero_buckets_and_no_peak_hour() {
    let report = jakarta_day(&[]);

    assert_eq!(report.hourly_breakdown.len(), 24);
    assert!(
        report.hourly_breakdown.iter().enumerate().all(|(i, h)| {
            usize::from(h.hour) == i && h.detections == 0 && h.unique_persons == 0
        })
    );
    assert_eq!(report.peak_hour, None);
    assert!(report.top_persons.is_empty() && report.device_breakdown.is_empty());
}

#[test]
fn the_json_has_the_documented_keys_and_a_null_peak_hour() {
    let json = serde_json::to_value(jakarta_day(&[])).unwrap();

    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "date",
            "device_breakdown",
            "hourly_breakdown",
            "peak_hour",
            "top_persons",
            "total_detected_count",
            "total_detections",
            "total_events",
            "unique_devices",
            "unique_persons",
        ]
    );
    assert!(json["peak_hour"].is_null());
    assert_eq!(json["date"], "2026-11-28");
    assert_eq!(
        json["hourly_breakdown"][5],
        serde_json::json!({"hour": 5, "detections": 0, "detected_count": 0, "unique_persons": 0})
    );
}

#[test]
fn a_detection_at_17_30_utc_is_hour_0_of_the_next_jakarta_day() {
    let report = jakarta_day(&[row("p1", 1, "cam-1", "2026-11-27T17:30:00Z", 3)]);

    assert_eq!(report.hourly_breakdown[0].detections, 1);
    assert_eq!(report.hourly_breakdown[0].detected_count, 3);
    assert_eq!(report.peak_hour, Some(0));
}

#[test]
fn a_detection_of_the_previous_local_day_is_refused_and_not_counted() {
    let mut day = DailyAccumulator::new(date(2026, 11, 28), tz("Asia/Jakarta"));

    let result = day.push(&row("p1", 1, "cam-1", "2026-11-27T16:59:59Z", 1));

    assert!(matches!(result, Err(ReportError::Rejected(_))));
    assert!(
        day.push_event("2026-11-28T17:00:00Z".parse().unwrap())
            .is_err()
    );
    assert_eq!(day.finish().total_detections, 0);
}

#[test]
fn a_23_hour_dst_day_buckets_by_local_hour_and_leaves_the_skipped_hour_empty() {
    // New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT.
    let mut day = DailyAccumulator::new(date(2026, 3, 8), tz("America/New_York"));
    for (at, _) in [
        ("2026-03-08T05:00:00Z", 0),  // 00:00 EST
        ("2026-03-08T06:30:00Z", 1),  // 01:30 EST
        ("2026-03-08T07:30:00Z", 3),  // 03:30 EDT (an hour after 01:30 EST)
        ("2026-03-09T03:59:59Z", 23), // 23:59:59 EDT
    ] {
        day.push(&row("p1", 1, "cam-1", at, 1)).unwrap();
    }
    assert!(
        day.push(&row("p1", 1, "cam-1", "2026-03-09T04:00:00Z", 1))
            .is_err()
    );

    let report = day.finish();

    let per_hour: Vec<u64> = report
        .hourly_breakdown
        .iter()
        .map(|h| h.detections)
        .collect();
    let mut expected = [0_u64; 24];
    for hour in [0, 1, 3, 23] {
        expected[hour] = 1;
    }
    assert_eq!(per_hour, expected);
    assert_eq!(report.total_detections, 4);
}

#[test]
fn a_25_hour_dst_day_puts_both_one_oclocks_in_hour_1() {
    let mut day = DailyAccumulator::new(date(2026, 11, 1), tz("America/New_York"));
    day.push(&row("p1", 1, "cam-1", "2026-11-01T05:30:00Z", 1))
        .unwrap(); // 01:30 EDT
    day.push(&row("p2", 1, "cam-1", "2026-11-01T06:30:00Z", 1))
        .unwrap(); // 01:30 EST

    let report = day.finish();

    assert_eq!(report.hourly_breakdown[1].detections, 2);
    assert_eq!(report.hourly_breakdown[1].unique_persons, 2);
    assert_eq!(report.peak_hour, Some(1));
}

#[test]
fn totals_devices_and_hours_count_rows_sums_and_distinct_persons() {
    let report = jakarta_day(&[
        row("p1", 1, "cam-1", "2026-11-28T01:00:00Z", 2), // 08:00 local
        row("p1", 1, "cam-1", "2026-11-28T01:10:00Z", 1), // 08:10
        row("p1", 1, "cam-2", "2026-11-28T02:00:00Z", 4), // 09:00
        row("p2", 1, "cam-2", "2026-11-28T02:05:00Z", 1), // 09:05
    ]);

    assert_eq!(report.total_detections, 4);
    assert_eq!(report.total_detected_count, 8);
    assert_eq!(report.unique_persons, 2);
    assert_eq!(report.unique_devices, 2);
    assert_eq!(report.hourly_breakdown[8].detections, 2);
    assert_eq!(report.hourly_breakdown[8].unique_persons, 1);
    assert_eq!(report.hourly_breakdown[9].unique_persons, 2);
    // Ties on detections (2 and 2): earliest hour wins; devices tie too: by id.
    assert_eq!(report.peak_hour, Some(8));
    let devices: Vec<(&str, u64, i64, u64)> = report
        .device_breakdown
        .iter()
        .map(|d| {
            (
                d.device_id.as_str(),
                d.detections,
                d.detected_count,
                d.unique_persons,
            )
        })
        .collect();
    assert_eq!(devices, [("cam-1", 2, 3, 1), ("cam-2", 2, 5, 2)]);
    let p1 = &report.top_persons[0];
    assert_eq!(
        (p1.re_id.as_str(), p1.detections, p1.detected_count),
        ("p1", 3, 7)
    );
    assert_eq!(
        p1.first_detected_at,
        "2026-11-28T01:00:00Z".parse().unwrap()
    );
    assert_eq!(p1.last_detected_at, "2026-11-28T02:00:00Z".parse().unwrap());
}

#[test]
fn top_persons_are_ten_ordered_by_detections_then_count_then_re_id() {
    let mut rows = Vec::new();
    // p00..p11 seen once each with count 1; "b" and "a" twice with equal detected counts;
    // "c" twice with a larger count.
    for i in 0..12 {
        rows.push(row(
            &format!("p{i:02}"),
            1,
            "cam",
            "2026-11-28T03:00:00Z",
            1,
        ));
    }
    for re_id in ["b", "a", "b", "a"] {
        rows.push(row(re_id, 1, "cam", "2026-11-28T04:00:00Z", 1));
    }
    rows.push(row("c", 1, "cam", "2026-11-28T04:00:00Z", 5));
    rows.push(row("c", 1, "cam", "2026-11-28T04:00:00Z", 5));

    let report = jakarta_day(&rows);

    let ids: Vec<&str> = report
        .top_persons
        .iter()
        .map(|p| p.re_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "c", "a", "b", "p00", "p01", "p02", "p03", "p04", "p05", "p06"
        ]
    );
}

#[test]
fn events_are_counted_from_timestamps_and_counts() {
    let mut day = DailyAccumulator::new(date(2026, 11, 28), tz("Asia/Jakarta"));
    day.push_event("2026-11-27T17:00:00Z".parse().unwrap())
        .unwrap();
    day.add_events(4);

    assert_eq!(day.finish().total_events, 5);
}

#[test]
fn a_capacity_hint_changes_nothing_in_the_report_and_an_absurd_one_is_capped() {
    let rows = [
        row("A", 1, "D1", "2026-11-28T01:00:00Z", 2),
        row("B", 1, "D2", "2026-11-28T02:30:00Z", 1),
        row("A", 1, "D2", "2026-11-28T03:00:00Z", 1),
    ];
    let with_hint = |persons: usize| {
        let mut day =
            DailyAccumulator::with_capacity(date(2026, 11, 28), tz("Asia/Jakarta"), persons);
        for r in &rows {
            day.push(r).unwrap();
        }
        day.finish()
    };
    let plain = jakarta_day(&rows);
    assert_eq!(with_hint(0), plain);
    assert_eq!(with_hint(2), plain);
    // A corrupt total must not reserve without bound (nor overflow the table's capacity).
    assert_eq!(with_hint(usize::MAX), plain);
}
