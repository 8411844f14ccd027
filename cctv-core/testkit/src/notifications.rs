//! Conformance cases of [`NotificationStore`](cctv_admin::notify::NotificationStore) and the
//! `whatsapp_delivery_summary` table.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::{accept_and_process, job, seed};
use cctv_admin::FullStorage;
use cctv_admin::notify::summary::{WHATSAPP_DELIVERY_SUMMARY, aggregate_day};
use cctv_admin::notify::{CooldownKey, DeliveryRecord, DeliveryStatus};
use cctv_core::jobs::JobId;
use cctv_core::records::{Filter, ListQuery, Order};

/// Three processed detections of branch 0; their event log ids, oldest first.
async fn events(store: &dyn FullStorage) -> (i64, Vec<i64>) {
    let estate = seed(store).await;
    let jobs: Vec<_> = ["08:00", "08:01", "08:02"]
        .iter()
        .map(|t| job(&estate, 0, "P1", 1, &format!("2026-11-28T{t}:00Z")))
        .collect();
    accept_and_process(store, &jobs).await;
    let mut ids = Vec::new();
    for j in &jobs {
        let record = store.job(j.job_id).await.unwrap().unwrap();
        ids.push(record.result.unwrap()["event_log_id"].as_i64().unwrap());
    }
    (estate.branches[0].id, ids)
}

fn delivery(branch: i64, event: i64, status: DeliveryStatus, attempt: u32) -> DeliveryRecord {
    DeliveryRecord {
        event_log_id: event,
        job_id: Some(JobId::new()),
        branch_id: branch,
        device_id: "CAM_JKT001_001".into(),
        recipient: "6281234567890".into(),
        channel: "whatsapp".into(),
        status,
        permanent: false,
        provider_message_id: None,
        latency_ms: None,
        error_code: None,
        error_message: None,
        attempt,
        digest_count: 0,
        at: "2026-11-28T08:00:00Z".parse().unwrap(),
    }
}

fn key(branch: i64) -> CooldownKey {
    CooldownKey {
        branch_id: branch,
        recipient: "6281234567890".into(),
        channel: "whatsapp".into(),
    }
}

pub async fn deliveries_are_one_row_per_event_recipient_and_channel(store: Arc<dyn FullStorage>) {
    let (branch, events) = events(store.as_ref()).await;
    let mut first = delivery(branch, events[0], DeliveryStatus::Failed, 1);
    first.error_code = Some("500".into());
    first.error_message = Some("provider unavailable (HTTP 500): down".into());
    store.record_delivery(&first, &[]).await.unwrap();
    assert!(
        !store.deliveries(events[0]).await.unwrap()[0].is_settled(),
        "a transient failure is retried"
    );
    let mut second = delivery(branch, events[0], DeliveryStatus::Sent, 2);
    second.provider_message_id = Some("wamid.1".into());
    second.latency_ms = Some(42);
    store.record_delivery(&second, &[]).await.unwrap();
    let mut other_channel = delivery(branch, events[0], DeliveryStatus::Failed, 2);
    other_channel.channel = "webhook".into();
    other_channel.permanent = true;
    store.record_delivery(&other_channel, &[]).await.unwrap();

    let rows = store.deliveries(events[0]).await.unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0].status, DeliveryStatus::Sent);
    assert_eq!((rows[0].attempt, rows[0].latency_ms), (2, Some(42)));
    assert_eq!(rows[0].provider_message_id.as_deref(), Some("wamid.1"));
    assert_eq!(
        rows[0].error_code, None,
        "the upsert replaces the earlier failure"
    );
    assert_eq!(rows[0].job_id, second.job_id);
    assert!(rows[1].permanent && rows[1].is_settled());
    assert!(store.deliveries(events[1]).await.unwrap().is_empty());
}

pub async fn a_cooldown_window_is_taken_by_one_event_at_a_time(store: Arc<dyn FullStorage>) {
    let (branch, events) = events(store.as_ref()).await;
    let t0: Timestamp = "2026-11-28T08:00:00Z".parse().unwrap();
    let at = move |s: i64| t0 + SignedDuration::from_secs(s);
    let minute = Duration::from_secs(60);
    let k = key(branch);
    assert!(
        store
            .take_cooldown(&k, events[0], at(0), minute)
            .await
            .unwrap()
    );
    assert!(
        !store
            .take_cooldown(&k, events[1], at(10), minute)
            .await
            .unwrap()
    );
    assert!(
        store
            .take_cooldown(&k, events[0], at(20), minute)
            .await
            .unwrap(),
        "the holder's retry"
    );
    assert!(
        !store
            .take_cooldown(&k, events[1], at(59), minute)
            .await
            .unwrap(),
        "the retry did not move the window"
    );
    let other = CooldownKey {
        recipient: "6289876543210".into(),
        ..k.clone()
    };
    assert!(
        store
            .take_cooldown(&other, events[1], at(30), minute)
            .await
            .unwrap(),
        "windows are per recipient"
    );
    assert!(
        store
            .take_cooldown(&k, events[1], at(60), minute)
            .await
            .unwrap(),
        "the window has passed"
    );
    assert!(
        !store
            .take_cooldown(&k, events[0], at(61), minute)
            .await
            .unwrap(),
        "a new window, held by another event"
    );
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let (store, k) = (store.clone(), k.clone());
            let event = events[i % 3];
            tokio::spawn(async move {
                store
                    .take_cooldown(&k, event, at(200 + i as i64), minute)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut winners = Vec::new();
    for (i, r) in racers.into_iter().enumerate() {
        if r.await.unwrap() {
            winners.push(events[i % 3]);
        }
    }
    winners.dedup();
    assert_eq!(
        winners.len(),
        1,
        "one event wins a contested window: {winners:?}"
    );
}

pub async fn suppressed_sends_wait_for_one_digest(store: Arc<dyn FullStorage>) {
    let (branch, events) = events(store.as_ref()).await;
    for e in &events[..2] {
        store
            .record_delivery(&delivery(branch, *e, DeliveryStatus::Suppressed, 1), &[])
            .await
            .unwrap();
    }
    let pending = store.pending_digest(&key(branch), events[2]).await.unwrap();
    assert_eq!(pending.delivery_ids.len(), 2);
    assert_eq!(
        pending.since,
        Some("2026-11-28T08:00:00Z".parse().unwrap()),
        "the earliest event time"
    );
    let own = store.pending_digest(&key(branch), events[0]).await.unwrap();
    assert_eq!(
        own.delivery_ids.len(),
        1,
        "an event's own row is not its digest"
    );
    let mut sent = delivery(branch, events[2], DeliveryStatus::Sent, 1);
    sent.digest_count = 2;
    store
        .record_delivery(&sent, &pending.delivery_ids)
        .await
        .unwrap();
    assert!(
        store
            .pending_digest(&key(branch), events[2])
            .await
            .unwrap()
            .delivery_ids
            .is_empty()
    );
    assert_eq!(
        store.deliveries(events[0]).await.unwrap()[0].status,
        DeliveryStatus::Digested
    );
    assert_eq!(
        store.deliveries(events[2]).await.unwrap()[0].digest_count,
        2
    );
}

pub async fn aggregating_a_day_replaces_its_summary_rows(store: Arc<dyn FullStorage>) {
    let (branch, _) = events(store.as_ref()).await;
    let dir = std::env::temp_dir().join(format!("cctv-agg-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let line = |status: &str, recipient: &str, latency: Option<u64>| {
        serde_json::json!({"timestamp": "2026-11-28T08:00:00Z", "event_log_id": 1, "job_id": null,
            "branch_id": branch, "device_id": "CAM_JKT001_001", "re_id": "P1", "recipient": recipient,
            "channel": "whatsapp", "status": status, "provider_message_id": null, "latency_ms": latency,
            "error_code": null, "error_message": null, "attempt": 1, "image": false, "digest_count": 0})
        .to_string()
    };
    let file = dir.join("2026-11-28.log");
    let text = [
        line("sent", "a", Some(10)),
        line("failed", "b", Some(21)),
        "not json".into(),
        line("suppressed", "a", None),
    ];
    std::fs::write(&file, text.join("\n")).unwrap();
    let date = "2026-11-28".parse().unwrap();
    let report = aggregate_day(store.as_ref(), &dir, date).await.unwrap();
    assert_eq!((report.lines, report.skipped, report.rows.len()), (4, 1, 1));
    aggregate_day(store.as_ref(), &dir, date).await.unwrap();
    let query = ListQuery {
        filters: vec![Filter::Eq("summary_date", Value::from("2026-11-28"))],
        order: Order::asc("id"),
        page: 1,
        per_page: 10,
    };
    let (rows, total) = store
        .list_records(&WHATSAPP_DELIVERY_SUMMARY, &query)
        .await
        .unwrap();
    assert_eq!(total, 1, "re-running replaced the day's row");
    let row = &rows[0];
    let counts: Vec<i64> = [
        "total_sent",
        "total_delivered",
        "total_failed",
        "total_pending",
        "unique_recipients",
        "avg_delivery_time_ms",
    ]
    .iter()
    .map(|c| row[*c].as_i64().unwrap())
    .collect();
    assert_eq!(counts, [3, 1, 1, 1, 2, 16]);
    assert_eq!(row["summary_date"], "2026-11-28");
    std::fs::remove_file(&file).unwrap();
    let missing = aggregate_day(store.as_ref(), &dir, date).await.unwrap();
    assert!(!missing.file_found);
    assert_eq!(
        store
            .count_records(&WHATSAPP_DELIVERY_SUMMARY, &[])
            .await
            .unwrap(),
        1,
        "a missing file deletes nothing"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
