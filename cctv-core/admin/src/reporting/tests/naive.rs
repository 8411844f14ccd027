//! A seeded random month of detections, reported by the accumulators and recomputed here the
//! plain way (collect, group with HashMaps, sort): any difference is a bug in one of them.
//! New York in March 2026 so that the data spans a 23-hour day.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use jiff::civil::{Date, date};
use jiff::tz::TimeZone;

use super::tz;
use crate::reporting::{
    BranchStats, DailyAccumulator, DailyReport, DashboardAccumulator, DashboardReport, DayStats,
    DetectionRow, DeviceStats, HourStats, MonthlyAccumulator, MonthlyReport, PersonStats, TrendDay,
    month_bounds,
};

/// xorshift64: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

struct Data {
    tz: TimeZone,
    rows: Vec<DetectionRow>,
    events: Vec<Timestamp>,
}

fn data() -> Data {
    let tz = tz("America/New_York");
    let (start, end) = month_bounds(2026, 3, &tz).unwrap();
    let (dst_start, dst_end) = crate::reporting::local_day_bounds(date(2026, 3, 8), &tz).unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let at = |rng: &mut Rng| {
        // One row in ten on the DST day, the rest anywhere in the month.
        let (from, to) = if rng.below(10) == 0 {
            (dst_start, dst_end)
        } else {
            (start, end)
        };
        let span = to.as_second() - from.as_second();
        Timestamp::from_second(from.as_second() + rng.below(span as u64) as i64).unwrap()
    };
    let rows = (0..2_000)
        .map(|_| {
            // Skewed towards low ids, so some persons are frequent and ties happen.
            let spread = rng.below(150) + 1;
            let person = rng.below(spread);
            let branch = 1 + rng.below(12) as i64;
            DetectionRow {
                re_id: format!("p{person}"),
                branch_id: branch,
                device_id: format!("cam-{branch}-{}", rng.below(3)),
                detected_at: at(&mut rng),
                detected_count: rng.below(6) as i64,
            }
        })
        .collect();
    let events = (0..300).map(|_| at(&mut rng)).collect();
    Data { tz, rows, events }
}

fn local(at: Timestamp, tz: &TimeZone) -> (Date, u8) {
    let zoned = at.to_zoned_datetime(tz.clone());
    (zoned.date(), zoned.hour() as u8)
}

fn persons(rows: &[&DetectionRow]) -> u64 {
    rows.iter().map(|r| &r.re_id).collect::<HashSet<_>>().len() as u64
}

fn sum(rows: &[&DetectionRow]) -> i64 {
    rows.iter().map(|r| r.detected_count).sum()
}

fn branch_stats(rows: &[&DetectionRow]) -> Vec<BranchStats> {
    let mut by_branch: HashMap<i64, Vec<&DetectionRow>> = HashMap::new();
    for r in rows {
        by_branch.entry(r.branch_id).or_default().push(r);
    }
    let mut stats: Vec<BranchStats> = by_branch
        .into_iter()
        .map(|(branch_id, rs)| BranchStats {
            branch_id,
            detections: rs.len() as u64,
            detected_count: sum(&rs),
            unique_persons: persons(&rs),
        })
        .collect();
    stats.sort_by_key(|b| (std::cmp::Reverse(b.detections), b.branch_id));
    stats
}

fn naive_daily(d: &Data, day: Date) -> DailyReport {
    let rows: Vec<&DetectionRow> = d
        .rows
        .iter()
        .filter(|r| local(r.detected_at, &d.tz).0 == day)
        .collect();
    let hourly_breakdown: Vec<HourStats> = (0..24)
        .map(|hour| {
            let rs: Vec<&DetectionRow> = rows
                .iter()
                .copied()
                .filter(|r| local(r.detected_at, &d.tz).1 == hour)
                .collect();
            HourStats {
                hour,
                detections: rs.len() as u64,
                detected_count: sum(&rs),
                unique_persons: persons(&rs),
            }
        })
        .collect();
    let mut peak_hour = None;
    let mut best = 0;
    for h in &hourly_breakdown {
        if h.detections > best {
            (best, peak_hour) = (h.detections, Some(h.hour));
        }
    }
    let mut by_device: HashMap<&str, Vec<&DetectionRow>> = HashMap::new();
    let mut by_person: HashMap<&str, Vec<&DetectionRow>> = HashMap::new();
    for r in &rows {
        by_device.entry(&r.device_id).or_default().push(r);
        by_person.entry(&r.re_id).or_default().push(r);
    }
    let mut device_breakdown: Vec<DeviceStats> = by_device
        .iter()
        .map(|(id, rs)| DeviceStats {
            device_id: (*id).to_owned(),
            detections: rs.len() as u64,
            detected_count: sum(rs),
            unique_persons: persons(rs),
        })
        .collect();
    device_breakdown
        .sort_by(|a, b| (b.detections, &a.device_id).cmp(&(a.detections, &b.device_id)));
    let mut top_persons: Vec<PersonStats> = by_person
        .iter()
        .map(|(id, rs)| PersonStats {
            re_id: (*id).to_owned(),
            detections: rs.len() as u64,
            detected_count: sum(rs),
            first_detected_at: rs.iter().map(|r| r.detected_at).min().unwrap(),
            last_detected_at: rs.iter().map(|r| r.detected_at).max().unwrap(),
        })
        .collect();
    top_persons.sort_by(|a, b| {
        (b.detections, b.detected_count, &a.re_id).cmp(&(a.detections, a.detected_count, &b.re_id))
    });
    top_persons.truncate(10);
    DailyReport {
        date: day,
        total_detections: rows.len() as u64,
        unique_persons: persons(&rows),
        total_detected_count: sum(&rows),
        unique_devices: by_device.len() as u64,
        total_events: d
            .events
            .iter()
            .filter(|e| local(**e, &d.tz).0 == day)
            .count() as u64,
        hourly_breakdown,
        device_breakdown,
        top_persons,
        peak_hour,
    }
}

fn naive_monthly(d: &Data) -> MonthlyReport {
    let rows: Vec<&DetectionRow> = d.rows.iter().collect();
    let daily_breakdown: Vec<DayStats> = (1..=31)
        .map(|day| {
            let date = date(2026, 3, day);
            let rs: Vec<&DetectionRow> = rows
                .iter()
                .copied()
                .filter(|r| local(r.detected_at, &d.tz).0 == date)
                .collect();
            let events = d
                .events
                .iter()
                .filter(|e| local(**e, &d.tz).0 == date)
                .count() as u64;
            DayStats {
                date,
                detections: rs.len() as u64,
                detected_count: sum(&rs),
                unique_persons: persons(&rs),
                events,
            }
        })
        .collect();
    let busiest = daily_breakdown.iter().map(|d| d.detections).max().unwrap();
    let busiest_day = daily_breakdown
        .iter()
        .find(|d| d.detections == busiest)
        .map(|d| d.date);
    MonthlyReport {
        month: "2026-03".into(),
        total_detections: rows.len() as u64,
        total_detected_count: sum(&rows),
        unique_persons: persons(&rows),
        unique_devices: rows
            .iter()
            .map(|r| &r.device_id)
            .collect::<HashSet<_>>()
            .len() as u64,
        total_events: d.events.len() as u64,
        days_counted: 31,
        avg_detections_per_day: (rows.len() as f64 / 31.0 * 100.0).round() / 100.0,
        busiest_day,
        branch_breakdown: branch_stats(&rows),
        daily_breakdown,
    }
}

fn naive_dashboard(d: &Data, from: Date, to: Date) -> DashboardReport {
    let in_range = |at: Timestamp| (from..=to).contains(&local(at, &d.tz).0);
    let rows: Vec<&DetectionRow> = d.rows.iter().filter(|r| in_range(r.detected_at)).collect();
    let daily_trend = (from.day()..=to.day())
        .map(|day| {
            let date = date(2026, 3, day);
            let rs: Vec<&DetectionRow> = rows
                .iter()
                .copied()
                .filter(|r| local(r.detected_at, &d.tz).0 == date)
                .collect();
            let events = d
                .events
                .iter()
                .filter(|e| local(**e, &d.tz).0 == date)
                .count() as u64;
            TrendDay {
                date,
                detections: rs.len() as u64,
                detected_count: sum(&rs),
                events,
            }
        })
        .collect();
    let branches = branch_stats(&rows);
    DashboardReport {
        date_from: from,
        date_to: to,
        total_detections: rows.len() as u64,
        total_detected_count: sum(&rows),
        unique_persons: persons(&rows),
        persons_stale: false,
        persons_pending: false,
        unique_branches: branches.len() as u64,
        unique_devices: rows
            .iter()
            .map(|r| &r.device_id)
            .collect::<HashSet<_>>()
            .len() as u64,
        total_events: d.events.iter().filter(|e| in_range(**e)).count() as u64,
        daily_trend,
        top_branches: branches.into_iter().take(10).collect(),
    }
}

#[test]
fn daily_reports_match_a_naive_recomputation_in_any_row_order() {
    let d = data();
    for day in [date(2026, 3, 1), date(2026, 3, 8), date(2026, 3, 17)] {
        let expected = naive_daily(&d, day);
        assert!(expected.total_detections > 40, "the data set covers {day}");
        for reverse in [false, true] {
            let mut acc = DailyAccumulator::new(day, d.tz.clone());
            let rows: Vec<&DetectionRow> = if reverse {
                d.rows.iter().rev().collect()
            } else {
                d.rows.iter().collect()
            };
            for r in rows
                .into_iter()
                .filter(|r| local(r.detected_at, &d.tz).0 == day)
            {
                acc.push(r).unwrap();
            }
            for e in d.events.iter().filter(|e| local(**e, &d.tz).0 == day) {
                acc.push_event(*e).unwrap();
            }
            assert_eq!(acc.finish(), expected, "{day}, reversed: {reverse}");
        }
    }
}

#[test]
fn the_monthly_report_matches_a_naive_recomputation() {
    let d = data();
    let mut acc = MonthlyAccumulator::new(2026, 3, d.tz.clone()).unwrap();
    for r in &d.rows {
        acc.push(r).unwrap();
    }
    for e in &d.events {
        acc.push_event(*e).unwrap();
    }

    let report = acc.finish(31);

    let expected = naive_monthly(&d);
    assert!(expected.unique_persons > 50 && expected.branch_breakdown.len() == 12);
    assert_eq!(report, expected);
}

#[test]
fn the_dashboard_matches_a_naive_recomputation() {
    let d = data();
    let (from, to) = (date(2026, 3, 5), date(2026, 3, 20));
    let mut acc = DashboardAccumulator::new(from, to, d.tz.clone()).unwrap();
    for r in &d.rows {
        // Rows outside the range are refused: that is part of what is compared.
        let _ = acc.push(r);
    }
    for e in &d.events {
        let _ = acc.push_event(*e);
    }

    let report = acc.finish();

    assert_eq!(report, naive_dashboard(&d, from, to));
}
