//! Provider failures: transient ones are retried on the notifications schedule with only
//! the unfinished recipients; refusals are not retried. Times are passed to the service,
//! so the 30 s and 60 s waits cost nothing.

use std::sync::Arc;

use cctv_admin::notify::Settled;
use cctv_admin::notify::context::EVENT_LOGS;
use cctv_core::jiff::{SignedDuration, Timestamp};
use cctv_core::jobs::JobState;
use cctv_core::records::by_id;

use super::*;
use crate::helpers::backends;

const A: &str = "081234567890";
const B: &str = "081298765432";
const CHAT_A: &str = "6281234567890@c.us";
const CHAT_B: &str = "6281298765432@c.us";

fn t0() -> Timestamp {
    Timestamp::now() + SignedDuration::from_secs(1)
}

fn secs(t: Timestamp, s: i64) -> Timestamp {
    t + SignedDuration::from_secs(s)
}

/// Whether `at` is `base` seconds after `t` plus the 0–10 % jitter.
fn backoff(at: Timestamp, t: Timestamp, base: i64) -> bool {
    at >= secs(t, base) && at <= secs(t, base + base / 10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_failing_twice_then_answering_delivers_once_per_recipient_after_the_backoff() {
    for backend in backends() {
        let waha = FakeWaha::start(Arc::new(|chat, n| {
            if n < 2 {
                (500, r#"{"error":"engine restarting"}"#.into())
            } else {
                (200, format!(r#"{{"id":"wamid.{chat}"}}"#))
            }
        }))
        .await;
        let rig = rig(backend, &waha, &[A, B]).await;
        let t = t0();
        let event = rig.detect(0, "P1", t).await;

        let first = rig.run_due(t).await;
        let [Settled::Retry { at: t1, error }] = &first[..] else {
            panic!("{first:?}")
        };
        assert!(
            backoff(*t1, t, 30) && error.contains("HTTP 500"),
            "{first:?}"
        );
        assert!(
            rig.run_due(secs(t, 29)).await.is_empty(),
            "nothing before the 30 s backoff"
        );
        let second = rig.run_due(*t1).await;
        let [Settled::Retry { at: t2, .. }] = &second[..] else {
            panic!("{second:?}")
        };
        assert!(backoff(*t2, *t1, 60), "then 60 s: {second:?}");
        assert!(rig.run_due(secs(*t1, 59)).await.is_empty());
        let third = rig.run_due(*t2).await;
        assert!(
            matches!(&third[..], [Settled::Completed(r)] if r["sent"] == 2),
            "{third:?}"
        );

        let per_chat = waha.per_chat();
        assert_eq!(
            (per_chat[CHAT_A], per_chat[CHAT_B]),
            (3, 3),
            "two failures and one delivery each"
        );
        let delivered: Vec<_> = waha
            .seen()
            .into_iter()
            .filter(|s| s.body["text"].is_string())
            .collect();
        assert!(delivered.iter().all(|s| s.path == "/api/sendText" && s.api_key.as_deref() == Some("waha-test-key")));
        let event_row = rig
            .store
            .find_record(&EVENT_LOGS, &by_id(event))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                event_row["notification_sent"].as_bool(),
                event_row["message_sent"].as_bool()
            ),
            (Some(true), Some(true))
        );
        let statuses: Vec<String> = rig
            .log_lines()
            .await
            .iter()
            .map(|l| l["status"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            statuses,
            [
                "retrying", "retrying", "retrying", "retrying", "sent", "sent"
            ],
            "one line per attempt"
        );
        assert!(
            rig.run_due(secs(t, 3600)).await.is_empty(),
            "the job is done"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_refusal_is_not_retried_and_the_job_fails_with_its_error() {
    for backend in backends() {
        let waha = FakeWaha::start(Arc::new(|_, _| {
            (
                400,
                r#"{"message":"chat not found: not on WhatsApp"}"#.into(),
            )
        }))
        .await;
        let rig = rig(backend, &waha, &[A]).await;
        let t = t0();
        let event = rig.detect(0, "P1", t).await;
        let settled = rig.run_due(t).await;
        let [Settled::Failed(error)] = &settled[..] else {
            panic!("{settled:?}")
        };
        assert!(
            error.contains("HTTP 400") && error.contains("chat not found"),
            "{error}"
        );
        assert!(
            rig.run_due(secs(t, 24 * 3600)).await.is_empty(),
            "never retried"
        );
        assert_eq!(waha.seen().len(), 1);

        let deliveries = rig.store.deliveries(event).await.unwrap();
        assert!(
            deliveries[0].permanent && deliveries[0].error_code.as_deref() == Some("400"),
            "{deliveries:?}"
        );
        let job_id = deliveries[0].job_id.unwrap();
        let record = rig.store.job(job_id).await.unwrap().unwrap();
        assert_eq!(record.state, JobState::Failed);
        assert!(record.last_error.unwrap().contains("chat not found"));
        let event_row = rig
            .store
            .find_record(&EVENT_LOGS, &by_id(event))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(event_row["notification_sent"].as_bool(), Some(false));
        let lines = rig.log_lines().await;
        assert_eq!(lines.len(), 1);
        assert_eq!(
            (lines[0]["status"].as_str(), lines[0]["error_code"].as_str()),
            (Some("failed"), Some("400"))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipient_that_got_the_message_is_not_messaged_again_when_the_job_retries() {
    for backend in backends() {
        let waha = FakeWaha::start(Arc::new(|chat, n| {
            if chat == CHAT_B && n == 0 {
                (503, "{}".into())
            } else {
                (200, r#"{"id":"ok"}"#.into())
            }
        }))
        .await;
        let rig = rig(backend, &waha, &[A, B]).await;
        let t = t0();
        rig.detect(0, "P1", t).await;
        let first = rig.run_due(t).await;
        assert!(
            matches!(&first[..], [Settled::Retry { error, .. }] if error.contains(CHAT_B.trim_end_matches("@c.us"))),
            "{first:?}"
        );
        assert_eq!(waha.per_chat().get(CHAT_A), Some(&1));
        let second = rig.run_due(secs(t, 33)).await;
        assert!(
            matches!(&second[..], [Settled::Completed(r)] if r["sent"] == 1 && r["skipped"] == 1),
            "{second:?}"
        );
        let per_chat = waha.per_chat();
        assert_eq!(
            (per_chat[CHAT_A], per_chat[CHAT_B]),
            (1, 2),
            "A once, B retried"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_down_for_every_attempt_moves_the_job_to_failed_jobs_after_five() {
    for backend in backends() {
        let waha = FakeWaha::start(Arc::new(|_, _| (502, "{}".into()))).await;
        let rig = rig(backend, &waha, &[A]).await;
        let t = t0();
        rig.detect(0, "P1", t).await;
        let mut at = t;
        let mut waits = Vec::new();
        for _ in 0..5 {
            let settled = rig.run_due(at).await;
            match &settled[..] {
                [Settled::Retry { at: next, .. }] => {
                    waits.push((*next - at).as_secs());
                    at = *next;
                }
                [Settled::Failed(error)] => {
                    assert!(
                        error.contains("gave up after 5 attempts") && error.contains("HTTP 502"),
                        "{error}"
                    );
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        let schedule = [30, 60, 120, 300];
        assert_eq!(waits.len(), 4, "{waits:?}");
        for (wait, base) in waits.iter().zip(schedule) {
            assert!(
                (base..=base + base / 10).contains(wait),
                "the notifications schedule plus at most 10 % jitter: {waits:?}"
            );
        }
        assert_eq!(waha.seen().len(), 5);
        let statuses: Vec<_> = rig
            .log_lines()
            .await
            .iter()
            .map(|l| l["status"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            statuses.last().map(String::as_str),
            Some("failed"),
            "{statuses:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_asking_to_wait_with_retry_after_is_not_called_before_then() {
    for backend in backends() {
        let waha = FakeWaha::start(Arc::new(|chat, n| {
            if n == 0 {
                (429, r#"{"message":"rate limited"}"#.into())
            } else {
                (200, format!(r#"{{"id":"wamid.{chat}"}}"#))
            }
        }))
        .await;
        waha.set_retry_after("600");
        let rig = rig(backend, &waha, &[A]).await;
        let t = t0();
        rig.detect(0, "P1", t).await;

        let first = rig.run_due(t).await;
        let [Settled::Retry { at, error }] = &first[..] else {
            panic!("{first:?}")
        };
        assert!(error.contains("HTTP 429"), "{error}");
        // The schedule says 30 s (33 s with jitter); the provider said 600 s.
        assert_eq!(*at, secs(t, 600), "{first:?}");
        assert!(rig.run_due(secs(t, 599)).await.is_empty());
        let second = rig.run_due(secs(t, 600)).await;
        assert!(
            matches!(&second[..], [Settled::Completed(r)] if r["sent"] == 1),
            "{second:?}"
        );
        assert_eq!(waha.seen().len(), 2);
    }
}
