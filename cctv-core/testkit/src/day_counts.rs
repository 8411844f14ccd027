//! Day totals (`day_counts`) against their recomputation from the detection rows.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Date;

use super::{accept, accept_and_process, day, job, process_every_batch_twice_at_once, seed};
use cctv_admin::FullStorage;
use cctv_admin::reporting::RowRange;
use cctv_core::detection::DetectionJob;
use cctv_core::estate::RecordStatus;
use cctv_core::query::{DayCount, DetectionFilter, DetectionItem, PageRequest};

/// `(date, branch or None for all)` → (detections, sum of detected_count, distinct re_ids).
type Recount = BTreeMap<(Date, Option<i64>), (i64, i64, BTreeSet<String>)>;

/// Every stored detection, page by page through the read API.
pub(super) async fn all_detections(store: &dyn FullStorage) -> Vec<DetectionItem> {
    let mut all = Vec::new();
    for page in 1.. {
        let rows = store
            .list_detections(&DetectionFilter::default(), PageRequest::new(page, 100))
            .await
            .unwrap();
        let last = rows.items.len() < 100;
        all.extend(rows.items);
        if last {
            return all;
        }
    }
    unreachable!("pages are numbered by u32")
}

async fn recount(store: &dyn FullStorage) -> Vec<DayCount> {
    let mut totals = Recount::new();
    for d in &all_detections(store).await {
        for key in [
            (d.detection_date, Some(d.branch_id)),
            (d.detection_date, None),
        ] {
            let t = totals.entry(key).or_default();
            t.0 += 1;
            t.1 += d.detected_count;
            t.2.insert(d.re_id.clone());
        }
    }
    let mut counts = Vec::new();
    for ((date, branch_id), (detections, detected_count, persons)) in totals {
        // Event logs counted on their own table (UTC days in this suite).
        let (start, end) =
            cctv_admin::reporting::local_day_bounds(date, &jiff::tz::TimeZone::UTC).unwrap();
        let range = RowRange {
            start,
            end,
            branches: branch_id.map(|b| vec![b]),
        };
        counts.push(DayCount {
            date,
            branch_id,
            detections,
            detected_count,
            persons: persons.len() as i64,
            events: store.count_events(&range).await.unwrap() as i64,
        });
    }
    counts.sort_by_key(|c| (c.date, c.branch_id.unwrap_or(0)));
    counts
}

/// Device totals and distinct persons over ranges and branch selections.
async fn ranges_match_their_recomputation(store: &dyn FullStorage, estate: &super::Estate) {
    let all = all_detections(store).await;
    let mut devices: BTreeMap<(Date, i64, String), (i64, i64)> = BTreeMap::new();
    for d in &all {
        let e = devices
            .entry((d.detection_date, d.branch_id, d.device_id.clone()))
            .or_default();
        e.0 += 1;
        e.1 += d.detected_count;
    }
    let expected: Vec<(Date, i64, String, i64, i64)> = devices
        .into_iter()
        .map(|((a, b, c), (n, s))| (a, b, c, n, s))
        .collect();
    let got: Vec<(Date, i64, String, i64, i64)> = store
        .device_day_counts("2026-11-01".parse().unwrap(), "2026-11-30".parse().unwrap())
        .await
        .unwrap()
        .into_iter()
        .map(|d| {
            (
                d.date,
                d.branch_id,
                d.device_id,
                d.detections,
                d.detected_count,
            )
        })
        .collect();
    assert_eq!(got, expected);

    let ids: Vec<i64> = estate.branches.iter().map(|b| b.id).collect();
    for (from, to) in [("2026-11-27", "2026-11-28"), ("2026-11-28", "2026-11-28")] {
        let (from, to): (Date, Date) = (from.parse().unwrap(), to.parse().unwrap());
        for selection in [None, Some(vec![ids[1]]), Some(vec![ids[0], ids[2]])] {
            let within: Vec<_> = all
                .iter()
                .filter(|d| d.detection_date >= from && d.detection_date <= to)
                .filter(|d| selection.as_ref().is_none_or(|l| l.contains(&d.branch_id)))
                .collect();
            let mut per_branch: BTreeMap<i64, BTreeSet<&str>> = BTreeMap::new();
            for d in &within {
                per_branch.entry(d.branch_id).or_default().insert(&d.re_id);
            }
            let overall: BTreeSet<&str> = within.iter().map(|d| d.re_id.as_str()).collect();
            let got = store
                .range_persons(from, to, selection.as_deref())
                .await
                .unwrap();
            assert_eq!(
                got.unique_persons,
                overall.len() as i64,
                "{from}..{to} {selection:?}"
            );
            assert_eq!(
                got.per_branch,
                per_branch
                    .into_iter()
                    .map(|(b, p)| (b, p.len() as i64))
                    .collect::<Vec<_>>(),
                "{from}..{to} {selection:?}"
            );
        }
    }
}

async fn stored(store: &dyn FullStorage) -> Vec<DayCount> {
    store
        .day_counts("2026-11-01".parse().unwrap(), "2026-11-30".parse().unwrap())
        .await
        .unwrap()
}

pub async fn day_counts_equal_their_recomputation(store: Arc<dyn FullStorage>) {
    let estate = Arc::new(seed(store.as_ref()).await);
    // 20 persons over 3 branches and two days, in batches delivered twice concurrently.
    let jobs: Vec<DetectionJob> = (0..600)
        .map(|i| {
            job(
                &estate,
                (i * 7) % 3,
                &format!("P{}", i % 20),
                (i % 3 + 1) as i32,
                &format!(
                    "2026-11-{}T{:02}:{:02}:00Z",
                    27 + (i / 20) % 2,
                    i % 24,
                    i % 60
                ),
            )
        })
        .collect();
    accept(store.as_ref(), &jobs).await;
    process_every_batch_twice_at_once(
        &(store.clone() as Arc<dyn cctv_core::storage::Storage>),
        &jobs,
        40,
    )
    .await;
    assert_eq!(stored(store.as_ref()).await, recount(store.as_ref()).await);

    // A person seen only while tracking is off still counts as a person at that branch;
    // the branch starts counting for the person-day once tracking is back on.
    accept_and_process(
        store.as_ref(),
        &[job(&estate, 0, "LATE", 2, "2026-11-28T08:00:00Z")],
    )
    .await;
    store
        .set_person_day_status("LATE", day(), RecordStatus::Inactive)
        .await
        .unwrap();
    accept_and_process(
        store.as_ref(),
        &[job(&estate, 1, "LATE", 3, "2026-11-28T09:00:00Z")],
    )
    .await;
    assert_eq!(stored(store.as_ref()).await, recount(store.as_ref()).await);
    let late = store
        .person_day("LATE", day(), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(late.total_detection_branch_count, 1);
    store
        .set_person_day_status("LATE", day(), RecordStatus::Active)
        .await
        .unwrap();
    accept_and_process(
        store.as_ref(),
        &[
            job(&estate, 1, "LATE", 1, "2026-11-28T10:00:00Z"),
            job(&estate, 2, "LATE", 1, "2026-11-28T11:00:00Z"),
        ],
    )
    .await;
    let late = store
        .person_day("LATE", day(), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (late.total_detection_branch_count, late.total_actual_count),
        (3, 4),
        "branch 2 counts once tracking is back; the inactive detection's count does not"
    );
    let counts = stored(store.as_ref()).await;
    assert_eq!(counts, recount(store.as_ref()).await);
    ranges_match_their_recomputation(store.as_ref(), &estate).await;
    let overall = counts
        .iter()
        .find(|c| c.date == day() && c.branch_id.is_none())
        .unwrap();
    assert_eq!(overall.persons, 21, "20 persons plus LATE");
    // Each processed detection counts once in the queue monitor's throughput, however
    // often its batch was delivered.
    let stats = store.queue_stats(Timestamp::now()).await.unwrap();
    let detections = stats
        .iter()
        .find(|s| s.queue == cctv_core::jobs::Queue::Detections)
        .unwrap();
    assert_eq!(detections.processed_last_minute, 604);
}
