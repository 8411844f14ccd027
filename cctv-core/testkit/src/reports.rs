//! Conformance cases of the report seam: stored reports, detection pages, staleness.

use std::collections::HashSet;
use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::json;

use super::{accept_and_process, job, seed};
use cctv_admin::AdminBuilder;
use cctv_admin::FullStorage;
use cctv_admin::reporting::{ReportKey, ReportKind, RowRange, StoredReport};

fn date(s: &str) -> Date {
    s.parse().unwrap()
}

fn report(key: ReportKey, detections: u64) -> StoredReport {
    StoredReport {
        key,
        total_detections: detections,
        unique_persons: 2,
        total_detected_count: 7,
        unique_devices: 1,
        total_events: detections,
        data: json!({"total_detections": detections, "hourly_breakdown": [1, 2]}),
        generated_at: "2026-11-29T01:00:00.123456Z".parse().unwrap(),
    }
}

pub async fn reports_upsert_one_row_per_key_including_overall(store: Arc<dyn FullStorage>) {
    let estate = seed(store.as_ref()).await;
    let day = date("2026-11-28");
    let overall = ReportKey::daily(day, None);
    let branch = ReportKey::daily(day, Some(estate.branches[0].id));
    let monthly = ReportKey::monthly(day, None);

    store.upsert_report(&report(overall, 1)).await.unwrap();
    store.upsert_report(&report(overall, 5)).await.unwrap();
    store.upsert_report(&report(branch, 3)).await.unwrap();
    store.upsert_report(&report(monthly, 9)).await.unwrap();

    assert_eq!(
        store.report(&overall).await.unwrap(),
        Some(report(overall, 5)),
        "replaced, not duplicated"
    );
    assert_eq!(
        store
            .report(&branch)
            .await
            .unwrap()
            .unwrap()
            .total_detections,
        3
    );
    let month = store.report(&monthly).await.unwrap().unwrap();
    assert_eq!(
        (month.key.date, month.key.kind),
        (date("2026-11-01"), ReportKind::Monthly)
    );
    assert_eq!(
        store
            .report(&ReportKey::daily(day, Some(estate.branches[1].id)))
            .await
            .unwrap(),
        None
    );
}

pub async fn detection_pages_cover_a_range_once_in_order(store: Arc<dyn FullStorage>) {
    let estate = seed(store.as_ref()).await;
    let jobs: Vec<_> = [
        (0, "p1", "2026-11-27T23:59:59Z"),
        (0, "p1", "2026-11-28T00:00:00Z"),
        (1, "p2", "2026-11-28T00:00:00Z"),
        (0, "p3", "2026-11-28T10:00:00Z"),
        (2, "p1", "2026-11-28T23:59:59.5Z"),
        (1, "p4", "2026-11-29T00:00:00Z"),
    ]
    .iter()
    .map(|(n, re_id, at)| job(&estate, *n, re_id, 2, at))
    .collect();
    accept_and_process(store.as_ref(), &jobs).await;
    let mut range = RowRange {
        start: "2026-11-28T00:00:00Z".parse().unwrap(),
        end: "2026-11-29T00:00:00Z".parse().unwrap(),
        branches: None,
    };

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.detection_page(&range, after, 2).await.unwrap();
        seen.extend(page.iter().map(|(_, r)| (r.re_id.clone(), r.detected_at)));
        match page.last() {
            Some((cursor, _)) if page.len() == 2 => after = Some(*cursor),
            _ => break,
        }
    }

    let expected: Vec<(String, Timestamp)> = jobs[1..5]
        .iter()
        .map(|j| (j.re_id.clone(), j.detected_at))
        .collect();
    let mut sorted = seen.clone();
    sorted.sort_by_key(|(_, at)| *at);
    assert_eq!(seen, sorted, "time order");
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(
        seen.iter().collect::<HashSet<_>>(),
        expected.iter().collect::<HashSet<_>>()
    );
    assert_eq!(store.count_events(&range).await.unwrap(), 4);
    range.branches = Some(vec![estate.branches[0].id, estate.branches[2].id]);
    let some = store.detection_page(&range, None, 10).await.unwrap();
    assert_eq!(
        some.iter()
            .map(|(_, r)| r.re_id.as_str())
            .collect::<Vec<_>>(),
        ["p1", "p3", "p1"]
    );
    assert_eq!(some[0].1.detected_count, 2);
    assert_eq!(store.count_events(&range).await.unwrap(), 3);
}

pub async fn dirty_marks_expand_and_clear_only_when_unchanged(store: Arc<dyn FullStorage>) {
    let estate = seed(store.as_ref()).await;
    let b = estate.branches[1].id;
    accept_and_process(
        store.as_ref(),
        &[job(&estate, 1, "p1", 1, "2026-11-28T10:00:00Z")],
    )
    .await;
    let day = date("2026-11-28");
    assert!(store.has_dirty_days(day, day, Some(b)).await.unwrap());
    assert!(
        !store
            .has_dirty_days(day, day, Some(estate.branches[0].id))
            .await
            .unwrap()
    );

    assert_eq!(store.expand_dirty_days(100).await.unwrap(), 1);
    assert!(
        !store.has_dirty_days(day, day, None).await.unwrap(),
        "expanded marks are gone"
    );
    let keys = [
        ReportKey::daily(day, Some(b)),
        ReportKey::daily(day, None),
        ReportKey::monthly(day, Some(b)),
        ReportKey::monthly(day, None),
    ];
    for key in &keys {
        assert_eq!(store.stale_version(key).await.unwrap(), Some(1), "{key}");
    }
    assert_eq!(
        store.stale_reports(ReportKind::Daily, 10).await.unwrap(),
        keys[..2].iter().rev().copied().collect::<Vec<_>>()
    );

    // Re-marked while a generation ran: its clear must not remove the newer staleness.
    accept_and_process(
        store.as_ref(),
        &[job(&estate, 1, "p2", 1, "2026-11-28T11:00:00Z")],
    )
    .await;
    store.expand_dirty_days(100).await.unwrap();
    assert!(!store.clear_stale(&keys[0], 1).await.unwrap());
    assert_eq!(store.stale_version(&keys[0]).await.unwrap(), Some(2));
    assert!(store.clear_stale(&keys[0], 2).await.unwrap());
    assert_eq!(store.stale_version(&keys[0]).await.unwrap(), None);
    assert_eq!(
        store
            .stale_reports(ReportKind::Monthly, 10)
            .await
            .unwrap()
            .len(),
        2
    );
}

pub async fn report_service_pages_give_the_same_report(store: Arc<dyn FullStorage>) {
    use cctv_admin::reporting::{ReportService, Reporting};
    let estate = seed(store.as_ref()).await;
    let jobs: Vec<_> = (0..23)
        .map(|i| {
            let at = format!("2026-11-28T{:02}:{:02}:00Z", i % 24, (i * 7) % 60);
            job(
                &estate,
                i % 3,
                &format!("p{}", i % 5),
                1 + (i % 3) as i32,
                &at,
            )
        })
        .collect();
    accept_and_process(store.as_ref(), &jobs).await;
    let core = cctv_core::Core::builder()
        .full_storage(store.clone())
        .build()
        .await
        .unwrap();
    let key = ReportKey::daily(date("2026-11-28"), None);

    let paged = ReportService::new(core.clone())
        .with_page_rows(2)
        .generate(key)
        .await
        .unwrap();
    let whole = ReportService::new(core.clone())
        .generate(key)
        .await
        .unwrap();
    let month = ReportService::new(core)
        .with_page_rows(3)
        .generate(ReportKey::monthly(key.date, None))
        .await
        .unwrap();

    assert_eq!(paged.data, whole.data);
    assert_eq!(
        (
            paged.total_detections,
            paged.unique_persons,
            paged.total_events
        ),
        (23, 5, 23)
    );
    assert_eq!(month.total_detections, 23);
    assert_eq!(
        store.stale_version(&key).await.unwrap(),
        None,
        "generation cleared the staleness"
    );
}
