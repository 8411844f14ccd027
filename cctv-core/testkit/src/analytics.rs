//! Visitor analytics against a recount from the raw detections, with the definitions
//! written out plainly here (see `cctv_admin::analytics` for the wording).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use jiff::civil::Date;
use jiff::tz::{Offset, TimeZone};
use jiff::{Span, Timestamp};

use super::day_counts::all_detections;
use super::{Estate, accept, job, seed};
use cctv_admin::analytics::{self, DayRange, Flow, FrequencyBucket, HeatCell, VisitDay};
use cctv_admin::storage::FullStorage;
use cctv_core::detection::DetectionJob;
use cctv_core::person_day::PreparedDetection;
use cctv_core::query::DetectionItem;
use cctv_core::storage::Storage;

const LOOKBACK: u32 = 30;

/// Jakarta time, UTC+7: 17:00 UTC is local midnight.
fn tz() -> TimeZone {
    TimeZone::fixed(Offset::constant(7))
}

fn date(s: &str) -> Date {
    s.parse().unwrap()
}

/// The detections of the case: a regular crowd over five weeks plus the edge cases.
fn detections(estate: &Estate) -> Vec<DetectionJob> {
    let mut jobs = Vec::new();
    let start: Timestamp = "2026-10-20T01:00:00Z".parse().unwrap();
    // 40 persons over 40 days, each on some days, at one to three branches a day, with
    // several detections per visit (sub-second parts make dwell rounding matter).
    for i in 0..1_600u32 {
        let person = i % 40;
        let day = (i * 7 + person * 3) % 40;
        if (person + day) % 3 == 0 {
            continue;
        }
        let branch = ((i / 40) + person) as usize % 3;
        let at = start
            + Span::new()
                .hours(24 * i64::from(day))
                .minutes(i64::from((i * 37) % 600))
                .milliseconds(i64::from((i * 131) % 1000));
        jobs.push(job(
            estate,
            branch,
            &format!("P{person}"),
            1,
            &at.to_string(),
        ));
    }
    // Across local midnight: 23:50 on the 27th at branch 0, 00:10 on the 28th at branch 1:
    // two visits on two days, each with one detection (no dwell), no flow.
    jobs.push(job(estate, 0, "MIDNIGHT", 1, "2026-11-27T16:50:00Z"));
    jobs.push(job(estate, 1, "MIDNIGHT", 1, "2026-11-27T17:10:00Z"));
    // Seen again after exactly the look-back (returning) and after one day more (new).
    jobs.push(job(estate, 2, "BACK", 1, "2026-10-29T03:00:00Z"));
    jobs.push(job(estate, 2, "BACK", 1, "2026-11-28T03:00:00Z"));
    jobs.push(job(estate, 2, "GONE", 1, "2026-10-28T03:00:00Z"));
    jobs.push(job(estate, 2, "GONE", 1, "2026-11-28T03:00:00Z"));
    // A dwell rounded down: 59.2 s.
    jobs.push(job(estate, 1, "ROUND", 1, "2026-11-20T02:00:00.900Z"));
    jobs.push(job(estate, 1, "ROUND", 1, "2026-11-20T02:01:00.100Z"));
    // A three-branch day: 2 → 0 → 1 by first detection, whatever the arrival order.
    jobs.push(job(estate, 1, "TOUR", 1, "2026-11-21T05:00:00Z"));
    jobs.push(job(estate, 2, "TOUR", 1, "2026-11-21T03:00:00Z"));
    jobs.push(job(estate, 0, "TOUR", 1, "2026-11-21T04:00:00Z"));
    jobs.push(job(estate, 2, "TOUR", 1, "2026-11-21T06:00:00Z"));
    jobs
}

/// Processes in batches, each delivered twice at once, in Jakarta time.
async fn process(store: &Arc<dyn Storage>, jobs: &[DetectionJob]) {
    let mut tasks = Vec::new();
    for chunk in jobs.chunks(37) {
        let store = store.clone();
        let batch: Vec<PreparedDetection> = chunk
            .iter()
            .map(|j| PreparedDetection::new(j.clone(), &tz()))
            .collect();
        tasks.push(tokio::spawn(async move {
            let (a, b) = tokio::join!(
                store.process_detections(&batch, Timestamp::now()),
                store.process_detections(&batch, Timestamp::now())
            );
            a.or(b).expect("at least one delivery succeeds");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

fn within(d: &DetectionItem, range: DayRange, branches: Option<&[i64]>) -> bool {
    d.detection_date >= range.from
        && d.detection_date <= range.to
        && branches.is_none_or(|b| b.contains(&d.branch_id))
}

fn recount_visits(
    all: &[DetectionItem],
    range: DayRange,
    branches: Option<&[i64]>,
) -> Vec<VisitDay> {
    let mut days_of: HashMap<&str, BTreeSet<Date>> = HashMap::new();
    for d in all {
        days_of
            .entry(&d.re_id)
            .or_default()
            .insert(d.detection_date);
    }
    range
        .days()
        .map(|day| {
            let persons: BTreeSet<&str> = all
                .iter()
                .filter(|d| {
                    d.detection_date == day && branches.is_none_or(|b| b.contains(&d.branch_id))
                })
                .map(|d| d.re_id.as_str())
                .collect();
            let earliest = day - Span::new().days(i64::from(LOOKBACK));
            let returning = persons
                .iter()
                .filter(|p| {
                    days_of[**p]
                        .iter()
                        .any(|&seen| seen >= earliest && seen < day)
                })
                .count() as i64;
            VisitDay {
                date: day,
                unique_persons: persons.len() as i64,
                new_persons: persons.len() as i64 - returning,
                returning_persons: returning,
            }
        })
        .collect()
}

type VisitKey<'a> = (&'a str, Date, i64);

fn visit_times<'a>(
    all: &'a [DetectionItem],
    range: DayRange,
    branches: Option<&[i64]>,
) -> BTreeMap<VisitKey<'a>, Vec<Timestamp>> {
    let mut visits: BTreeMap<VisitKey<'a>, Vec<Timestamp>> = BTreeMap::new();
    for d in all.iter().filter(|d| within(d, range, branches)) {
        visits
            .entry((&d.re_id, d.detection_date, d.branch_id))
            .or_default()
            .push(d.detection_timestamp);
    }
    visits
}

fn recount_dwell(
    all: &[DetectionItem],
    range: DayRange,
    branches: Option<&[i64]>,
) -> Vec<(i64, i64)> {
    let mut seconds: BTreeMap<i64, i64> = BTreeMap::new();
    for times in visit_times(all, range, branches)
        .values()
        .filter(|t| t.len() >= 2)
    {
        let first = times.iter().min().unwrap().as_microsecond();
        let last = times.iter().max().unwrap().as_microsecond();
        *seconds
            .entry((last - first).div_euclid(1_000_000))
            .or_default() += 1;
    }
    seconds.into_iter().collect()
}

fn recount_flows(all: &[DetectionItem], range: DayRange) -> BTreeMap<(i64, i64), i64> {
    let mut days: BTreeMap<(&str, Date), Vec<(Timestamp, i64)>> = BTreeMap::new();
    for ((re_id, day, branch), times) in visit_times(all, range, None) {
        days.entry((re_id, day))
            .or_default()
            .push((*times.iter().min().unwrap(), branch));
    }
    let mut flows = BTreeMap::new();
    for mut branches in days.into_values() {
        branches.sort();
        for pair in branches.windows(2) {
            *flows.entry((pair[0].1, pair[1].1)).or_default() += 1;
        }
    }
    flows
}

fn recount_frequency(
    all: &[DetectionItem],
    range: DayRange,
    branches: Option<&[i64]>,
) -> Vec<FrequencyBucket> {
    let mut days: HashMap<&str, BTreeSet<Date>> = HashMap::new();
    for d in all.iter().filter(|d| within(d, range, branches)) {
        days.entry(&d.re_id).or_default().insert(d.detection_date);
    }
    let mut buckets: BTreeMap<i64, i64> = BTreeMap::new();
    for seen in days.values() {
        *buckets.entry(seen.len() as i64).or_default() += 1;
    }
    let most = buckets.keys().max().copied().unwrap_or(0);
    (1..=most)
        .map(|n| FrequencyBucket {
            days: n,
            persons: buckets.get(&n).copied().unwrap_or(0),
        })
        .collect()
}

fn recount_heatmap(
    all: &[DetectionItem],
    range: DayRange,
    branches: Option<&[i64]>,
) -> Vec<HeatCell> {
    let mut cells = vec![0i64; 168];
    for d in all.iter().filter(|d| within(d, range, branches)) {
        let local = d.detection_timestamp.to_zoned_datetime(tz());
        assert_eq!(local.date(), d.detection_date, "stored local date");
        let weekday = local.weekday().to_monday_one_offset() as usize;
        cells[(weekday - 1) * 24 + local.hour() as usize] += 1;
    }
    cells
        .into_iter()
        .enumerate()
        .map(|(i, n)| HeatCell {
            weekday: (i / 24 + 1) as i8,
            hour: (i % 24) as i8,
            detections: n,
        })
        .collect()
}

pub async fn analytics_equal_their_recount(store: Arc<dyn FullStorage>) {
    let estate = seed(store.as_ref()).await;
    let jobs = detections(&estate);
    accept(store.as_ref(), &jobs).await;
    process(&(store.clone() as Arc<dyn Storage>), &jobs).await;
    let all = all_detections(store.as_ref()).await;
    assert_eq!(all.len(), jobs.len());
    let b: Vec<i64> = estate.branches.iter().map(|b| b.id).collect();
    let ranges = [
        DayRange::new(date("2026-11-01"), date("2026-11-30")).unwrap(),
        DayRange::new(date("2026-10-15"), date("2026-12-01")).unwrap(),
        DayRange::new(date("2026-11-28"), date("2026-11-28")).unwrap(),
    ];
    let selections: [Option<Vec<i64>>; 3] = [None, Some(vec![b[0]]), Some(vec![b[1], b[2]])];
    let a = store.as_ref();
    for range in ranges {
        for sel in &selections {
            let sel = sel.as_deref();
            let ctx = format!("{range:?} {sel:?}");
            assert_eq!(
                analytics::visits(a, range, sel, LOOKBACK).await.unwrap(),
                recount_visits(&all, range, sel),
                "visits {ctx}"
            );
            assert_eq!(
                analytics::dwell(a, range, sel).await.unwrap(),
                analytics::dwell_report(&recount_dwell(&all, range, sel)),
                "dwell {ctx}"
            );
            assert_eq!(
                analytics::frequency(a, range, sel).await.unwrap(),
                recount_frequency(&all, range, sel),
                "frequency {ctx}"
            );
            assert_eq!(
                analytics::heatmap(a, range, sel).await.unwrap(),
                recount_heatmap(&all, range, sel),
                "heatmap {ctx}"
            );
        }
        let flows: BTreeMap<(i64, i64), i64> = analytics::flows(a, range, None, None, |_| None)
            .await
            .unwrap()
            .into_iter()
            .map(|f: Flow| ((f.from_branch_id, f.to_branch_id), f.persons))
            .collect();
        assert_eq!(flows, recount_flows(&all, range), "flows {range:?}");
    }

    // The edge cases are in the data above; here the reference itself is held to them,
    // so the equality with the backend covers them.
    let only = |names: &[&str]| -> Vec<DetectionItem> {
        all.iter()
            .filter(|d| names.contains(&d.re_id.as_str()))
            .cloned()
            .collect()
    };
    let day = |s: &str| DayRange::new(date(s), date(s)).unwrap();
    let v = recount_visits(&only(&["BACK", "GONE"]), day("2026-11-28"), None);
    assert_eq!(
        (v[0].returning_persons, v[0].new_persons),
        (1, 1),
        "returning after exactly {LOOKBACK} days"
    );
    assert_eq!(
        recount_dwell(&only(&["ROUND"]), day("2026-11-20"), None),
        vec![(59, 1)]
    );
    let tour = recount_flows(&only(&["TOUR"]), day("2026-11-21"));
    assert_eq!(tour, BTreeMap::from([((b[2], b[0]), 1), ((b[0], b[1]), 1)]));
    let midnight = only(&["MIDNIGHT"]);
    let visits: Vec<_> = visit_times(&midnight, ranges[1], None)
        .into_keys()
        .collect();
    assert_eq!(
        visits,
        vec![
            ("MIDNIGHT", date("2026-11-27"), b[0]),
            ("MIDNIGHT", date("2026-11-28"), b[1])
        ]
    );
    assert!(recount_dwell(&midnight, ranges[1], None).is_empty());
    // Scoped flows: only pairs with both ends visible, and only around the focus.
    let visible = [b[0], b[1]];
    let range = ranges[1];
    for f in analytics::flows(a, range, Some(&visible), Some(b[0]), |_| None)
        .await
        .unwrap()
    {
        assert!(visible.contains(&f.from_branch_id) && visible.contains(&f.to_branch_id));
        assert!(f.from_branch_id == b[0] || f.to_branch_id == b[0]);
    }
}
