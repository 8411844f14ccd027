//! Conformance cases of export pages and job lease heartbeats.

use std::collections::HashSet;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::{accept_and_process, job, seed};
use cctv_admin::export::{
    DetectionExportFilter, DetectionExportRow, EventExportFilter, EventExportRow,
    PersonExportFilter, PersonExportRow,
};
use cctv_admin::storage::FullStorage;
use cctv_core::estate::RecordStatus;
use cctv_core::jobs::{Lease, NewJob, Queue};
use cctv_core::storage::Storage;

async fn all_detections(
    store: &dyn FullStorage,
    filter: &DetectionExportFilter,
) -> Vec<DetectionExportRow> {
    let mut rows: Vec<DetectionExportRow> = Vec::new();
    loop {
        let after = rows.last().map(|r| (r.detection_timestamp, r.id));
        let page = store.detection_export_page(filter, after, 2).await.unwrap();
        let n = page.len();
        assert!(n <= 2, "a page holds at most the limit");
        rows.extend(page);
        if n < 2 {
            return rows;
        }
    }
}

async fn all_events(store: &dyn FullStorage, filter: &EventExportFilter) -> Vec<EventExportRow> {
    let mut rows: Vec<EventExportRow> = Vec::new();
    loop {
        let after = rows.last().map(|r| (r.event_timestamp, r.id));
        let page = store.event_export_page(filter, after, 2).await.unwrap();
        let n = page.len();
        rows.extend(page);
        if n < 2 {
            return rows;
        }
    }
}

async fn all_persons(store: &dyn FullStorage, filter: &PersonExportFilter) -> Vec<PersonExportRow> {
    let mut rows: Vec<PersonExportRow> = Vec::new();
    loop {
        let after = rows.last().map(|r| (r.detection_date, r.id));
        let page = store.person_export_page(filter, after, 2).await.unwrap();
        let n = page.len();
        rows.extend(page);
        if n < 2 {
            return rows;
        }
    }
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

pub async fn export_pages_filter_and_cover_each_row_once(store: Arc<dyn FullStorage>) {
    let estate = seed(store.as_ref()).await;
    let b = |n: usize| estate.branches[n].id;
    // Inserted out of time order, two at the same instant, over two days.
    let jobs = vec![
        job(&estate, 0, "P1", 2, "2026-11-28T10:00:00Z"),
        job(&estate, 1, "P1", 3, "2026-11-28T08:00:00Z"),
        job(&estate, 0, "P2", 1, "2026-11-28T08:00:00Z"),
        job(&estate, 2, "P3", 5, "2026-11-28T23:59:59Z"),
        job(&estate, 0, "P1", 4, "2026-11-29T00:30:00Z"),
        job(&estate, 1, "Ann_%", 1, "2026-11-29T07:00:00Z"),
    ];
    accept_and_process(store.as_ref(), &jobs).await;
    store
        .set_person_day_status("P2", "2026-11-28".parse().unwrap(), RecordStatus::Inactive)
        .await
        .unwrap();

    // Detections: every row once, in (time, id) order, across pages of two.
    let rows = all_detections(store.as_ref(), &DetectionExportFilter::default()).await;
    assert_eq!(rows.len(), 6);
    assert_eq!(
        rows.iter().map(|r| r.id).collect::<HashSet<_>>().len(),
        6,
        "no row twice"
    );
    assert!(
        rows.windows(2)
            .all(|w| (w[0].detection_timestamp, w[0].id) < (w[1].detection_timestamp, w[1].id))
    );
    assert_eq!(rows[0].detection_timestamp, at("2026-11-28T08:00:00Z"));
    assert_eq!(rows[2].re_id, "P1");
    assert_eq!(rows[2].detected_count, 2);
    assert_eq!(rows[2].device_id, estate.devices[0].device_id);
    let data: serde_json::Value =
        serde_json::from_str(rows[2].detection_data.as_deref().expect("data")).unwrap();
    assert_eq!(data, json!({"confidence": 0.9}));

    let day_one = DetectionExportFilter {
        start: Some(at("2026-11-28T00:00:00Z")),
        end: Some(at("2026-11-29T00:00:00Z")),
        ..Default::default()
    };
    assert_eq!(all_detections(store.as_ref(), &day_one).await.len(), 4);
    let branch_0 = DetectionExportFilter {
        branches: Some(vec![b(0)]),
        ..Default::default()
    };
    let got = all_detections(store.as_ref(), &branch_0).await;
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|r| r.branch_id == b(0)));
    let two_branches = DetectionExportFilter {
        branches: Some(vec![b(1), b(2)]),
        re_id: Some("P1".into()),
        ..Default::default()
    };
    let got = all_detections(store.as_ref(), &two_branches).await;
    assert_eq!(
        got.iter().map(|r| r.detected_count).collect::<Vec<_>>(),
        vec![3]
    );
    let device = DetectionExportFilter {
        device_id: Some(estate.devices[2].device_id.clone()),
        ..Default::default()
    };
    assert_eq!(all_detections(store.as_ref(), &device).await.len(), 1);
    let none = DetectionExportFilter {
        branches: Some(vec![]),
        ..Default::default()
    };
    assert!(all_detections(store.as_ref(), &none).await.is_empty());

    // Event logs: one per detection.
    let events = all_events(store.as_ref(), &EventExportFilter::default()).await;
    assert_eq!(events.len(), 6);
    assert!(
        events
            .windows(2)
            .all(|w| (w[0].event_timestamp, w[0].id) < (w[1].event_timestamp, w[1].id))
    );
    assert!(events.iter().all(|e| e.event_type == "detection"));
    let filtered = EventExportFilter {
        start: Some(at("2026-11-29T00:00:00Z")),
        branches: Some(vec![b(1)]),
        event_type: Some("detection".into()),
        ..Default::default()
    };
    let got = all_events(store.as_ref(), &filtered).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].re_id.as_deref(), Some("Ann_%"));
    let alerts = EventExportFilter {
        event_type: Some("alert".into()),
        ..Default::default()
    };
    assert!(all_events(store.as_ref(), &alerts).await.is_empty());
    let device = EventExportFilter {
        device_id: Some(estate.devices[0].device_id.clone()),
        end: Some(at("2026-11-29T00:00:00Z")),
        ..Default::default()
    };
    assert_eq!(all_events(store.as_ref(), &device).await.len(), 2);
    let search = EventExportFilter {
        search: Some("ANN_".into()),
        ..Default::default()
    };
    let got = all_events(store.as_ref(), &search).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].re_id.as_deref(), Some("Ann_%"));
    let by_device = EventExportFilter {
        search: Some("jkt003".into()),
        ..Default::default()
    };
    assert_eq!(all_events(store.as_ref(), &by_device).await.len(), 1);

    // Person-days: P1, P2, P3 on the 28th; P1 and Ann_% on the 29th.
    let persons = all_persons(store.as_ref(), &PersonExportFilter::default()).await;
    assert_eq!(persons.len(), 5);
    assert!(
        persons
            .windows(2)
            .all(|w| (w[0].detection_date, w[0].id) < (w[1].detection_date, w[1].id))
    );
    let p1 = persons
        .iter()
        .find(|p| p.re_id == "P1" && p.detection_date.to_string() == "2026-11-28")
        .unwrap();
    assert_eq!(
        (p1.total_actual_count, p1.total_detection_branch_count),
        (5, 2)
    );
    assert_eq!(p1.first_detected_at, Some(at("2026-11-28T08:00:00Z")));
    assert_eq!(p1.last_detected_at, Some(at("2026-11-28T10:00:00Z")));
    let in_branch_1 = PersonExportFilter {
        branches: Some(vec![b(1)]),
        ..Default::default()
    };
    let got: Vec<String> = all_persons(store.as_ref(), &in_branch_1)
        .await
        .into_iter()
        .map(|p| format!("{} {}", p.re_id, p.detection_date))
        .collect();
    assert_eq!(got, vec!["P1 2026-11-28", "Ann_% 2026-11-29"]);
    let inactive = PersonExportFilter {
        status: Some("inactive".into()),
        ..Default::default()
    };
    let got = all_persons(store.as_ref(), &inactive).await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].re_id.as_str(), got[0].status.as_str()),
        ("P2", "inactive")
    );
    let dated = PersonExportFilter {
        date_from: Some("2026-11-29".parse().unwrap()),
        date_to: Some("2026-11-29".parse().unwrap()),
        re_id: Some("P1".into()),
        ..Default::default()
    };
    let got = all_persons(store.as_ref(), &dated).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].total_actual_count, 4);
    // With a date bound, the pages after the first start from their cursor's date: every
    // person-day from that date comes once, in order.
    let ids = |rows: Vec<PersonExportRow>| rows.into_iter().map(|p| p.id).collect::<Vec<_>>();
    let every = all_persons(store.as_ref(), &PersonExportFilter::default()).await;
    assert!(every.len() > 2, "several pages");
    let first_day = every[0].detection_date;
    let from_first_day = PersonExportFilter {
        date_from: Some(first_day),
        ..Default::default()
    };
    assert_eq!(
        ids(all_persons(store.as_ref(), &from_first_day).await),
        ids(every)
    );
    // `%` and `_` in a search are literal characters, not wildcards.
    let search = |term: &str| PersonExportFilter {
        search: Some(term.into()),
        ..Default::default()
    };
    assert_eq!(all_persons(store.as_ref(), &search("ann_%")).await.len(), 1);
    assert_eq!(all_persons(store.as_ref(), &search("p_")).await.len(), 0);
    assert_eq!(all_persons(store.as_ref(), &search("p")).await.len(), 4);
}

pub async fn heartbeats_keep_a_running_job_from_a_second_claim(store: Arc<dyn Storage>) {
    let t0: Timestamp = "2026-11-28T10:00:00Z".parse().unwrap();
    let secs = SignedDuration::from_secs;
    let beating = NewJob::new(Queue::Reports, "long", json!({"n": 1}), t0);
    let silent = NewJob::new(Queue::Reports, "long", json!({"n": 2}), t0);
    store
        .enqueue(&[beating.clone(), silent.clone()])
        .await
        .unwrap();
    let a = |until: Timestamp| Lease {
        owner: "node-a".into(),
        until,
    };
    let claimed = store
        .claim(Queue::Reports, &a(t0 + secs(10)), 2, t0)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);

    // Node a is alive and heartbeats only the first job, twice, before each lease ends.
    for beat in [8, 16] {
        let now = t0 + secs(beat);
        assert!(
            store
                .extend_lease(beating.id, &a(now + secs(10)), now)
                .await
                .unwrap()
        );
    }
    let b = Lease {
        owner: "node-b".into(),
        until: t0 + secs(60),
    };
    // At 20 s the first lease would have ended long ago without the heartbeats.
    let reclaimed = store
        .claim(Queue::Reports, &b, 10, t0 + secs(20))
        .await
        .unwrap();
    assert_eq!(
        reclaimed.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![silent.id],
        "only the job without heartbeats is claimed again"
    );
    assert!(
        !store
            .extend_lease(silent.id, &a(t0 + secs(40)), t0 + secs(21))
            .await
            .unwrap(),
        "a lease taken over by another node cannot be extended"
    );
    // The heartbeating job is claimed again once its heartbeats stop and the lease ends.
    let late = t0 + secs(27);
    let again = store.claim(Queue::Reports, &b, 10, late).await.unwrap();
    assert_eq!(
        again.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![beating.id]
    );
    assert!(
        store
            .complete(beating.id, json!({"ok": true}), late)
            .await
            .unwrap()
    );
    assert!(
        !store
            .extend_lease(beating.id, &b, late + secs(1))
            .await
            .unwrap(),
        "a completed job has no lease to extend"
    );
}
