//! The reports recomputed the plain way from the posted detections (filter, group with
//! maps, sort), to check the stored reports field by field. Every detection logs one
//! event, so event counts equal detection counts here.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cctv_core::jiff::Timestamp;
use cctv_core::jiff::civil::Date;
use cctv_core::jiff::tz::TimeZone;
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// One detection as it was posted.
#[derive(Debug, Clone)]
pub struct Posted {
    pub branch_id: i64,
    pub device_id: String,
    pub re_id: String,
    pub detected_count: i64,
    pub at: Timestamp,
}

impl Posted {
    pub fn new(app: &TestApp, n: usize, re_id: &str, detected_count: i64, at: Timestamp) -> Self {
        Self {
            branch_id: app.branch(n),
            device_id: app.device(n).to_owned(),
            re_id: re_id.to_owned(),
            detected_count,
            at,
        }
    }

    pub fn body(&self) -> Value {
        json!({"re_id": self.re_id, "branch_id": self.branch_id, "device_id": self.device_id,
               "detected_count": self.detected_count, "detected_at": self.at.to_string()})
    }

    fn local(&self, tz: &TimeZone) -> (Date, i64) {
        let dt = tz.to_datetime(self.at);
        (dt.date(), i64::from(dt.hour()))
    }
}

fn select<'a>(
    rows: &'a [Posted],
    tz: &TimeZone,
    branch: Option<i64>,
    keep: impl Fn(Date) -> bool,
) -> Vec<&'a Posted> {
    rows.iter()
        .filter(|r| branch.is_none_or(|b| r.branch_id == b) && keep(r.local(tz).0))
        .collect()
}

fn distinct<'a, T: Ord>(rows: &'a [&Posted], f: impl Fn(&'a Posted) -> T) -> usize {
    rows.iter().map(|r| f(r)).collect::<BTreeSet<_>>().len()
}

fn sum(rows: &[&Posted]) -> i64 {
    rows.iter().map(|r| r.detected_count).sum()
}

/// `{detections, detected_count, unique_persons}` of a group.
fn group(rows: &[&Posted]) -> (usize, i64, usize) {
    (rows.len(), sum(rows), distinct(rows, |r| r.re_id.as_str()))
}

pub fn expected_daily(rows: &[Posted], day: Date, branch: Option<i64>, tz: &TimeZone) -> Value {
    let rows = select(rows, tz, branch, |d| d == day);
    let hours: Vec<Value> = (0..24)
        .map(|h| {
            let in_hour: Vec<&Posted> = rows
                .iter()
                .copied()
                .filter(|r| r.local(tz).1 == h)
                .collect();
            let (n, c, p) = group(&in_hour);
            json!({"hour": h, "detections": n, "detected_count": c, "unique_persons": p})
        })
        .collect();
    let peak = (0..24usize)
        .filter(|h| hours[*h]["detections"].as_u64() > Some(0))
        .max_by_key(|h| (hours[*h]["detections"].as_u64(), std::cmp::Reverse(*h)));
    let mut by_device: BTreeMap<&str, Vec<&Posted>> = BTreeMap::new();
    for r in &rows {
        by_device.entry(r.device_id.as_str()).or_default().push(r);
    }
    let mut devices: Vec<(usize, &str, Value)> = by_device
        .iter()
        .map(|(d, rs)| {
            let (n, c, p) = group(rs);
            (
                n,
                *d,
                json!({"device_id": d, "detections": n, "detected_count": c, "unique_persons": p}),
            )
        })
        .collect();
    devices.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    let mut by_person: HashMap<&str, Vec<&Posted>> = HashMap::new();
    for r in &rows {
        by_person.entry(r.re_id.as_str()).or_default().push(r);
    }
    let mut persons: Vec<(usize, i64, &str, Value)> = by_person
        .iter()
        .map(|(p, rs)| {
            let first = rs.iter().map(|r| r.at).min().unwrap();
            let last = rs.iter().map(|r| r.at).max().unwrap();
            (
                rs.len(),
                sum(rs),
                *p,
                json!({"re_id": p, "detections": rs.len(), "detected_count": sum(rs),
                                            "first_detected_at": first, "last_detected_at": last}),
            )
        })
        .collect();
    persons.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(b.2)));
    json!({
        "date": day,
        "total_detections": rows.len(),
        "unique_persons": distinct(&rows, |r| r.re_id.as_str()),
        "total_detected_count": sum(&rows),
        "unique_devices": distinct(&rows, |r| r.device_id.as_str()),
        "total_events": rows.len(),
        "hourly_breakdown": hours,
        "device_breakdown": devices.into_iter().map(|d| d.2).collect::<Vec<_>>(),
        "top_persons": persons.into_iter().take(10).map(|p| p.3).collect::<Vec<_>>(),
        "peak_hour": peak,
    })
}

/// Per-branch `{branch_id, detections, detected_count, unique_persons}`, busiest first.
fn branches(rows: &[&Posted]) -> Vec<Value> {
    let mut by_branch: BTreeMap<i64, Vec<&Posted>> = BTreeMap::new();
    for r in rows {
        by_branch.entry(r.branch_id).or_default().push(r);
    }
    let mut all: Vec<(usize, i64, Value)> = by_branch
        .iter()
        .map(|(b, rs)| {
            let (n, c, p) = group(rs);
            (
                n,
                *b,
                json!({"branch_id": b, "detections": n, "detected_count": c, "unique_persons": p}),
            )
        })
        .collect();
    all.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    all.into_iter().map(|b| b.2).collect()
}

fn days(from: Date, to: Date) -> Vec<Date> {
    from.series(cctv_core::jiff::Span::new().days(1))
        .take_while(|d| *d <= to)
        .collect()
}

pub fn expected_monthly(
    rows: &[Posted],
    year: i16,
    month: i8,
    branch: Option<i64>,
    tz: &TimeZone,
) -> Value {
    let first = Date::new(year, month, 1).unwrap();
    let rows = select(rows, tz, branch, |d| d.first_of_month() == first);
    let daily: Vec<(Date, usize, Value)> = days(first, first.last_of_month())
        .into_iter()
        .map(|day| {
            let on: Vec<&Posted> = rows.iter().copied().filter(|r| r.local(tz).0 == day).collect();
            let (n, c, p) = group(&on);
            (day, n, json!({"date": day, "detections": n, "detected_count": c, "unique_persons": p, "events": n}))
        })
        .collect();
    let busiest = daily
        .iter()
        .filter(|d| d.1 > 0)
        .max_by_key(|d| (d.1, std::cmp::Reverse(d.0)))
        .map(|d| d.0);
    let n_days = daily.len() as f64;
    json!({
        "month": format!("{year:04}-{month:02}"),
        "total_detections": rows.len(),
        "total_detected_count": sum(&rows),
        "unique_persons": distinct(&rows, |r| r.re_id.as_str()),
        "unique_devices": distinct(&rows, |r| r.device_id.as_str()),
        "total_events": rows.len(),
        "daily_breakdown": daily.into_iter().map(|d| d.2).collect::<Vec<_>>(),
        "days_counted": n_days as u32,
        "avg_detections_per_day": (rows.len() as f64 / n_days * 100.0).round() / 100.0,
        "busiest_day": busiest,
        "branch_breakdown": branches(&rows),
    })
}

pub fn expected_dashboard(
    app: &TestApp,
    rows: &[Posted],
    from: Date,
    to: Date,
    branch: Option<i64>,
    tz: &TimeZone,
) -> Value {
    let rows = select(rows, tz, branch, |d| d >= from && d <= to);
    let trend: Vec<Value> = days(from, to)
        .into_iter()
        .map(|day| {
            let on: Vec<&Posted> = rows.iter().copied().filter(|r| r.local(tz).0 == day).collect();
            json!({"date": day, "detections": on.len(), "detected_count": sum(&on), "events": on.len()})
        })
        .collect();
    let mut top = branches(&rows);
    top.truncate(10);
    for b in &mut top {
        let id = b["branch_id"].as_i64().unwrap();
        let name = app
            .estate
            .branches
            .iter()
            .find(|x| x.id == id)
            .unwrap()
            .branch_name
            .clone();
        b["branch_name"] = json!(name);
    }
    json!({
        "date_from": from,
        "date_to": to,
        "total_detections": rows.len(),
        "total_detected_count": sum(&rows),
        "unique_persons": distinct(&rows, |r| r.re_id.as_str()),
        "unique_branches": distinct(&rows, |r| r.branch_id),
        "unique_devices": distinct(&rows, |r| r.device_id.as_str()),
        "total_events": rows.len(),
        "daily_trend": trend,
        "top_branches": top,
    })
}
