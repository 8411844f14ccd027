//! A busy branch cannot flood a phone: within a recipient's 60 s cooldown only the first
//! event is sent, the others are suppressed, and the next message after the window says
//! how many were held back. The daily summary equals the counts of the raw log lines.

use std::collections::{BTreeMap, HashSet};

use cctv_admin::notify::DeliveryStatus;
use cctv_admin::notify::Settled;
use cctv_admin::notify::summary::{WHATSAPP_DELIVERY_SUMMARY, aggregate_day};
use cctv_core::jiff::civil::Date;
use cctv_core::jiff::{SignedDuration, Timestamp};
use cctv_core::records::{ListQuery, Order};

use super::*;
use crate::helpers::backends;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_detections_in_a_minute_send_one_message_per_recipient_and_the_next_carries_a_digest()
{
    for backend in backends() {
        let waha = FakeWaha::ok().await;
        let rig = rig(backend, &waha, &["081234567890", "081298765432"]).await;
        let base = Timestamp::now();
        let mut events = Vec::new();
        for i in 0..50 {
            events.push(
                rig.detect(
                    0,
                    &format!("P{i}"),
                    base + SignedDuration::from_millis(i * 1100),
                )
                .await,
            );
        }
        let t = Timestamp::now() + SignedDuration::from_secs(1);
        // Jobs run as they arrive: one each 1.1 s, all inside one 60 s window.
        let lease = cctv_core::jobs::Lease {
            owner: "test".into(),
            until: t + SignedDuration::from_mins(10),
        };
        let jobs = rig
            .store
            .claim(cctv_core::jobs::Queue::Notifications, &lease, 100, t)
            .await
            .unwrap();
        assert_eq!(jobs.len(), 50);
        for (i, job) in jobs.iter().enumerate() {
            let settled = rig
                .service
                .handle(job, t + SignedDuration::from_millis(i as i64 * 1100))
                .await
                .unwrap();
            let expected = if i == 0 { "sent" } else { "suppressed" };
            assert!(
                matches!(&settled, Settled::Completed(r) if r["result"] == expected),
                "job {i}: {settled:?}"
            );
        }
        assert_eq!(
            waha.seen().len(),
            2,
            "one message per recipient in the window"
        );
        assert!(
            waha.seen()
                .iter()
                .all(|s| !s.body["text"].as_str().unwrap().contains("more detection"))
        );
        let suppressed = rig.store.deliveries(events[49]).await.unwrap();
        assert!(
            suppressed
                .iter()
                .all(|d| d.status == DeliveryStatus::Suppressed)
                && suppressed.len() == 2
        );

        // After the window, the next detection is sent with the digest of the other 49.
        let later = t + SignedDuration::from_secs(61);
        let next = rig.detect(0, "P-late", later).await;
        let settled = rig.run_due(later).await;
        assert!(
            matches!(&settled[..], [Settled::Completed(r)] if r["sent"] == 2),
            "{settled:?}"
        );
        let seen = waha.seen();
        assert_eq!(seen.len(), 4);
        let first_suppressed = base + SignedDuration::from_millis(1100);
        let since = first_suppressed
            .to_zoned_datetime(cctv_core::jiff::tz::TimeZone::UTC)
            .strftime("%H:%M")
            .to_string();
        for s in &seen[2..] {
            let text = s.body["text"].as_str().unwrap();
            assert!(
                text.ends_with(&format!("\n+49 more detections since {since}")),
                "{text}"
            );
            assert!(
                text.starts_with("Unknown Person seen at Jakarta Branch 1 by Camera 1, count 1"),
                "{text}"
            );
        }
        assert!(
            rig.store
                .deliveries(events[49])
                .await
                .unwrap()
                .iter()
                .all(|d| d.status == DeliveryStatus::Digested)
        );
        assert!(
            rig.store
                .deliveries(next)
                .await
                .unwrap()
                .iter()
                .all(|d| d.digest_count == 49)
        );

        // The summary of each day in the log equals what the raw lines say.
        let lines = rig.log_lines().await;
        assert_eq!(
            lines.len(),
            2 + 98 + 2,
            "every send and every suppression is a line"
        );
        let days: HashSet<Date> = lines
            .iter()
            .map(|l| {
                l["timestamp"]
                    .as_str()
                    .unwrap()
                    .parse::<Timestamp>()
                    .unwrap()
                    .to_zoned_datetime(cctv_core::jiff::tz::TimeZone::UTC)
                    .date()
            })
            .collect();
        for day in days {
            aggregate_day(rig.store.as_ref(), &rig.log_dir, day)
                .await
                .unwrap();
            assert_summary_matches_lines(&rig, day, &lines).await;
        }
    }
}

async fn assert_summary_matches_lines(rig: &Rig, day: Date, lines: &[Value]) {
    // Expected, computed independently from the raw JSON.
    let mut expected: BTreeMap<(i64, String), [i64; 6]> = BTreeMap::new();
    let mut recipients: BTreeMap<(i64, String), HashSet<String>> = BTreeMap::new();
    for l in lines.iter().filter(|l| {
        l["timestamp"]
            .as_str()
            .unwrap()
            .parse::<Timestamp>()
            .unwrap()
            .to_zoned_datetime(cctv_core::jiff::tz::TimeZone::UTC)
            .date()
            == day
    }) {
        let key = (
            l["branch_id"].as_i64().unwrap(),
            l["device_id"].as_str().unwrap().to_owned(),
        );
        let e = expected.entry(key.clone()).or_default();
        e[0] += 1;
        match l["status"].as_str().unwrap() {
            "sent" => e[1] += 1,
            "failed" => e[2] += 1,
            _ => e[3] += 1,
        }
        e[4] += i64::from(l["image"].as_bool().unwrap());
        recipients
            .entry(key)
            .or_default()
            .insert(l["recipient"].as_str().unwrap().to_owned());
    }
    let query = ListQuery {
        filters: vec![cctv_core::records::Filter::Eq(
            "summary_date",
            Value::from(day.to_string()),
        )],
        order: Order::asc("id"),
        page: 1,
        per_page: 100,
    };
    let (rows, _) = rig
        .store
        .list_records(&WHATSAPP_DELIVERY_SUMMARY, &query)
        .await
        .unwrap();
    assert_eq!(rows.len(), expected.len());
    for row in rows {
        let key = (
            row["branch_id"].as_i64().unwrap(),
            row["device_id"].as_str().unwrap().to_owned(),
        );
        let e = expected[&key];
        let got = [
            "total_sent",
            "total_delivered",
            "total_failed",
            "total_pending",
            "messages_with_image",
        ]
        .map(|c| row[c].as_i64().unwrap());
        assert_eq!(got, e[..5], "{row:?}");
        assert_eq!(
            row["unique_recipients"].as_i64().unwrap(),
            recipients[&key].len() as i64
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detections_held_back_with_no_later_detection_go_out_once_as_a_trailing_digest() {
    for backend in backends() {
        let waha = FakeWaha::ok().await;
        let rig = rig(backend, &waha, &["081234567890"]).await;
        let t: Timestamp = "2026-11-28T10:00:00Z".parse().unwrap();
        let first = rig.detect(0, "P1", t).await;
        assert_eq!(rig.run_due(Timestamp::now()).await.len(), 1);
        // Run at explicit times: the first takes the window, two more are held back.
        let mut held = Vec::new();
        for (re_id, secs) in [("P2", 10), ("P3", 40)] {
            held.push(
                rig.detect(0, re_id, t + SignedDuration::from_secs(secs))
                    .await,
            );
        }
        let now = Timestamp::now();
        let settled = rig.run_due(now).await;
        assert!(
            settled
                .iter()
                .all(|s| matches!(s, Settled::Completed(r) if r["result"] == "suppressed")),
            "{backend:?}: {settled:?}"
        );
        assert_eq!(waha.seen().len(), 1, "{backend:?}: only the first was sent");
        assert!(rig.store.deliveries(first).await.unwrap()[0].status == DeliveryStatus::Sent);

        // Nothing else comes. Inside the window nothing more is sent; after it, one digest.
        assert!(
            rig.run_due(now + SignedDuration::from_secs(30))
                .await
                .is_empty()
        );
        let settled = rig.run_due(now + SignedDuration::from_secs(62)).await;
        assert!(
            settled
                .iter()
                .any(|s| matches!(s, Settled::Completed(r) if r["result"] == "digest_sent")),
            "{backend:?}: {settled:?}"
        );
        let seen = waha.seen();
        assert_eq!(seen.len(), 2, "{backend:?}: one trailing digest");
        assert_eq!(
            seen[1].body["text"], "+2 more detections at Jakarta Branch 1 at 10:00",
            "{backend:?}"
        );
        let rows: Vec<DeliveryStatus> = {
            let mut all = Vec::new();
            for e in &held {
                all.extend(
                    rig.store
                        .deliveries(*e)
                        .await
                        .unwrap()
                        .into_iter()
                        .map(|d| d.status),
                );
            }
            all
        };
        assert!(
            rows.contains(&DeliveryStatus::Sent),
            "{backend:?}: {rows:?}"
        );
        assert!(
            rows.iter()
                .all(|s| matches!(s, DeliveryStatus::Sent | DeliveryStatus::Digested)),
            "{backend:?}: {rows:?}"
        );

        // Once: later runs send nothing more.
        rig.run_due(now + SignedDuration::from_secs(300)).await;
        assert_eq!(waha.seen().len(), 2, "{backend:?}");
    }
}
