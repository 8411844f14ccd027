use jiff::civil::date;
use jiff::tz::TimeZone;

use super::{row, tz};
use crate::reporting::{
    DashboardAccumulator, DashboardCounts, MAX_DASHBOARD_DAYS, ReportError, dashboard_from_counts,
    persons_from_days,
};
use cctv_core::query::{DayCount, DeviceDayCount, RangePersons};

#[test]
fn persons_and_devices_are_distinct_over_the_range_and_the_trend_is_zero_filled() {
    let mut dash =
        DashboardAccumulator::new(date(2026, 11, 1), date(2026, 11, 7), tz("Asia/Jakarta"))
            .unwrap();
    for (re_id, at) in [
        ("p1", "2026-11-01T03:00:00Z"),
        ("p1", "2026-11-03T03:00:00Z"),
        ("p2", "2026-11-03T04:00:00Z"),
        ("p1", "2026-11-07T16:00:00Z"), // 23:00 on the 7th
    ] {
        dash.push(&row(re_id, 1, "cam-1", at, 2)).unwrap();
    }

    let report = dash.finish();

    assert_eq!(
        (report.total_detections, report.total_detected_count),
        (4, 8)
    );
    assert_eq!(
        (
            report.unique_persons,
            report.unique_devices,
            report.unique_branches
        ),
        (2, 1, 1)
    );
    let trend: Vec<(i8, u64)> = report
        .daily_trend
        .iter()
        .map(|d| (d.date.day(), d.detections))
        .collect();
    assert_eq!(
        trend,
        [(1, 1), (2, 0), (3, 2), (4, 0), (5, 0), (6, 0), (7, 1)]
    );
}

#[test]
fn top_branches_are_the_ten_busiest_ordered_by_detections_then_id() {
    let mut dash =
        DashboardAccumulator::new(date(2026, 11, 1), date(2026, 11, 1), TimeZone::UTC).unwrap();
    // Branch b gets b % 4 + 1 detections, for b = 1..=12.
    for branch in 1..=12_i64 {
        for n in 0..(branch % 4 + 1) {
            dash.push(&row(
                &format!("p{n}"),
                branch,
                "cam",
                "2026-11-01T10:00:00Z",
                1,
            ))
            .unwrap();
        }
    }

    let report = dash.finish();

    let ids: Vec<i64> = report.top_branches.iter().map(|b| b.branch_id).collect();
    assert_eq!(ids, [3, 7, 11, 2, 6, 10, 1, 5, 9, 4]);
    assert_eq!(report.top_branches[0].unique_persons, 4);
    assert_eq!(report.unique_branches, 12);
}

#[test]
fn reversed_or_too_long_ranges_are_refused() {
    let utc = TimeZone::UTC;
    let from = date(2026, 1, 1);
    let longest = from
        .checked_add(jiff::Span::new().days(i64::from(MAX_DASHBOARD_DAYS) - 1))
        .unwrap();

    assert!(DashboardAccumulator::new(from, longest, utc.clone()).is_ok());
    let too_long = longest.tomorrow().unwrap();
    assert!(matches!(
        DashboardAccumulator::new(from, too_long, utc.clone()),
        Err(ReportError::Rejected(_))
    ));
    assert!(DashboardAccumulator::new(date(2026, 1, 2), from, utc).is_err());
}

#[test]
fn rows_and_events_outside_the_range_are_refused() {
    let mut dash =
        DashboardAccumulator::new(date(2026, 11, 1), date(2026, 11, 2), tz("Asia/Jakarta"))
            .unwrap();

    assert!(
        dash.push(&row("p1", 1, "cam", "2026-10-31T16:59:59Z", 1))
            .is_err()
    );
    assert!(
        dash.push_event("2026-11-02T17:00:00Z".parse().unwrap())
            .is_err()
    );
    dash.add_events(date(2026, 11, 2), 3).unwrap();

    let report = dash.finish();
    assert_eq!((report.total_detections, report.total_events), (0, 3));
    assert_eq!(report.daily_trend[1].events, 3);
}

/// (day, branch or all) → (detections, detected_count, persons).
type DayTotals = std::collections::BTreeMap<
    (jiff::civil::Date, Option<i64>),
    (i64, i64, std::collections::BTreeSet<String>),
>;

/// Day totals, device totals and distinct persons derived naively from rows, the way the
/// processing transaction keeps them (UTC days here).
fn counts_of(rows: &[crate::reporting::DetectionRow], branches: Option<&[i64]>) -> DashboardCounts {
    use std::collections::{BTreeMap, BTreeSet};
    let mut days = DayTotals::new();
    let mut devices: BTreeMap<(jiff::civil::Date, i64, String), (i64, i64)> = BTreeMap::new();
    let (mut all, mut per_branch) = (BTreeSet::new(), BTreeMap::<i64, BTreeSet<String>>::new());
    for r in rows {
        let day = r.detected_at.to_zoned_datetime(TimeZone::UTC).date();
        for key in [(day, Some(r.branch_id)), (day, None)] {
            let e = days.entry(key).or_default();
            e.0 += 1;
            e.1 += r.detected_count;
            e.2.insert(r.re_id.clone());
        }
        let d = devices
            .entry((day, r.branch_id, r.device_id.clone()))
            .or_default();
        d.0 += 1;
        d.1 += r.detected_count;
        if branches.is_none_or(|l| l.contains(&r.branch_id)) {
            all.insert(r.re_id.clone());
            per_branch
                .entry(r.branch_id)
                .or_default()
                .insert(r.re_id.clone());
        }
    }
    DashboardCounts {
        days: days
            .into_iter()
            .map(|((date, branch_id), (n, c, p))| DayCount {
                date,
                branch_id,
                detections: n,
                detected_count: c,
                persons: p.len() as i64,
                events: n,
            })
            .collect(),
        devices: devices
            .into_iter()
            .map(|((date, branch_id, device_id), (n, c))| DeviceDayCount {
                date,
                branch_id,
                device_id,
                detections: n,
                detected_count: c,
            })
            .collect(),
        persons: RangePersons {
            unique_persons: all.len() as i64,
            per_branch: per_branch
                .into_iter()
                .map(|(b, p)| (b, p.len() as i64))
                .collect(),
        },
    }
}

#[test]
fn the_dashboard_from_running_totals_equals_the_one_from_rows() {
    let rows: Vec<_> = (0..200)
        .map(|i| {
            row(
                &format!("p{}", i % 13),
                1 + i % 4,
                &format!("cam-{}", i % 5),
                &format!("2026-11-0{}T{:02}:00:00Z", 1 + i % 6, i % 24),
                1 + i % 3,
            )
        })
        .collect();
    let (from, to) = (date(2026, 11, 1), date(2026, 11, 7));
    for branches in [None, Some(vec![2]), Some(vec![1, 3])] {
        // Several days of data: the day totals cannot give distinct persons.
        let counts = counts_of(&rows, branches.as_deref());
        assert_eq!(
            persons_from_days(&counts.days, from, to, branches.as_deref()),
            None
        );
        let mut acc = DashboardAccumulator::new(from, to, TimeZone::UTC).unwrap();
        for r in rows
            .iter()
            .filter(|r| branches.as_ref().is_none_or(|l| l.contains(&r.branch_id)))
        {
            acc.push(r).unwrap();
            acc.push_event(r.detected_at).unwrap();
        }
        let counts = counts_of(&rows, branches.as_deref());
        assert_eq!(
            dashboard_from_counts(from, to, branches.as_deref(), &counts).unwrap(),
            acc.finish(),
            "branches {branches:?}"
        );
    }
}

#[test]
fn distinct_persons_come_from_the_day_totals_only_when_one_day_has_detections() {
    let rows: Vec<_> = (0..60)
        .map(|i| {
            row(
                &format!("p{}", i % 11),
                1 + i % 3,
                "cam",
                &format!("2026-11-05T{:02}:00:00Z", i % 24),
                1,
            )
        })
        .collect();
    let (from, to) = (date(2026, 11, 1), date(2026, 11, 7));
    for branches in [None, Some(vec![2])] {
        let counts = counts_of(&rows, branches.as_deref());
        assert_eq!(
            persons_from_days(&counts.days, from, to, branches.as_deref()),
            Some(counts.persons.clone()),
            "branches {branches:?}"
        );
    }
    // Two branches of one day may share persons: only a scan can tell.
    let counts = counts_of(&rows, Some(&[1, 2]));
    assert_eq!(
        persons_from_days(&counts.days, from, to, Some(&[1, 2])),
        None
    );
    // No detections in the range at all.
    assert_eq!(
        persons_from_days(&counts.days, date(2026, 12, 1), date(2026, 12, 7), None),
        Some(RangePersons::default())
    );
}
