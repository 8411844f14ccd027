//! The running day totals against their recomputation from the detection rows (the
//! `FullStorage` conformance case does this with event counts from the optional exports).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use cctv_core::estate::RecordStatus;
use cctv_core::person_day::PreparedDetection;
use cctv_core::query::{DetectionFilter, PageRequest};
use cctv_core::storage::{AcceptItem, Storage};
use cctv_storage_memory::MemoryStore;
use cctv_testkit::{job, seed};
use jiff::Timestamp;
use jiff::tz::TimeZone;

async fn run(store: &Arc<dyn Storage>, jobs: &[cctv_core::detection::DetectionJob]) {
    let items: Vec<AcceptItem> = jobs
        .iter()
        .map(|j| AcceptItem {
            job: j.clone(),
            lease: None,
        })
        .collect();
    store
        .accept_detections(&items, Timestamp::now())
        .await
        .unwrap();
    for chunk in jobs.chunks(40) {
        let batch: Vec<PreparedDetection> = chunk
            .iter()
            .map(|j| PreparedDetection::new(j.clone(), &TimeZone::UTC))
            .collect();
        let (a, b) = tokio::join!(
            store.process_detections(&batch, Timestamp::now()),
            store.process_detections(&batch, Timestamp::now())
        );
        a.unwrap();
        b.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn day_counts_equal_their_recomputation() {
    let store: Arc<dyn Storage> = Arc::new(MemoryStore::new());
    let estate = seed(store.as_ref()).await;
    let jobs: Vec<_> = (0..300)
        .map(|i| {
            let at = format!(
                "2026-11-{}T{:02}:{:02}:00Z",
                27 + (i / 20) % 2,
                i % 24,
                i % 60
            );
            job(
                &estate,
                (i * 7) % 3,
                &format!("P{}", i % 20),
                (i % 3 + 1) as i32,
                &at,
            )
        })
        .collect();
    run(&store, &jobs).await;
    store
        .set_person_day_status("P1", "2026-11-28".parse().unwrap(), RecordStatus::Inactive)
        .await
        .unwrap();
    run(&store, &[job(&estate, 2, "P1", 5, "2026-11-28T12:00:00Z")]).await;

    let mut expected: BTreeMap<_, (i64, i64, BTreeSet<String>)> = BTreeMap::new();
    for page in 1..=4 {
        let rows = store
            .list_detections(&DetectionFilter::default(), PageRequest::new(page, 100))
            .await
            .unwrap();
        for d in rows.items {
            for key in [(d.detection_date, d.branch_id), (d.detection_date, 0)] {
                let e = expected.entry(key).or_default();
                e.0 += 1;
                e.1 += d.detected_count;
                e.2.insert(d.re_id.clone());
            }
        }
    }
    let got: BTreeMap<_, _> = store
        .day_counts("2026-11-01".parse().unwrap(), "2026-11-30".parse().unwrap())
        .await
        .unwrap()
        .into_iter()
        .map(|c| {
            assert_eq!(c.events, c.detections, "one event log per detection");
            let key = (c.date, c.branch_id.unwrap_or(0));
            (key, (c.detections, c.detected_count, c.persons))
        })
        .collect();
    let expected: BTreeMap<_, _> = expected
        .into_iter()
        .map(|(k, (n, s, p))| (k, (n, s, p.len() as i64)))
        .collect();
    assert_eq!(got, expected);
}
