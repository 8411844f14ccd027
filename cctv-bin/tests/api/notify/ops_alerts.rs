//! Operational alerts reach the admins who opted in: one message per episode however many
//! nodes see it, one when it recovers, a retry only to whoever did not get it, and nobody
//! who did not opt in (or is not an admin) is messaged.

use std::sync::Arc;

use cctv_admin::access::Role;
use cctv_admin::job_handlers::{JobHandler, MaintenanceJobHandler};
use cctv_admin::manage::tables::USERS;
use cctv_admin::manage::{ManageSettings, Manager, NewUser};
use cctv_admin::ops_alerts::{AlertChange, record};
use cctv_core::jiff::{SignedDuration, Timestamp};
use cctv_core::jobs::JobFailure;
use cctv_core::jobs::{Lease, NewJob, Queue};
use cctv_core::records::{Filter, WriteOp};

use super::*;
use crate::helpers::backends;

/// (e-mail, role, phone, opted in)
const PEOPLE: [(&str, Role, Option<&str>, bool); 4] = [
    ("ops1@cctv.test", Role::Admin, Some("0812-1111-0001"), true),
    (
        "ops2@cctv.test",
        Role::Admin,
        Some("+62 812 1111 0002"),
        true,
    ),
    (
        "quiet@cctv.test",
        Role::Admin,
        Some("0812-1111-0003"),
        false,
    ),
    (
        "viewer@cctv.test",
        Role::Viewer,
        Some("0812-1111-0004"),
        true,
    ),
];

async fn people(core: &Core) {
    let manager = Manager::new(core.clone(), ManageSettings::default());
    for (email, role, phone, opted) in PEOPLE {
        manager
            .create_user(NewUser {
                name: email.into(),
                email: email.into(),
                password: "a-long-password".into(),
                role,
            })
            .await
            .unwrap();
        let Value::Object(changes) = json!({
            "phone": phone.map(|p| cctv_admin::phone::normalize_phone(p).unwrap()),
            "queue_alerts": opted,
        }) else {
            unreachable!()
        };
        core.storage()
            .apply(&[WriteOp::Update {
                table: &USERS,
                changes,
                filters: vec![Filter::Eq("email", json!(email))],
            }])
            .await
            .unwrap();
    }
}

/// Runs every due maintenance job; the results in order.
async fn run_jobs(core: &Core) -> Vec<Result<Value, JobFailure>> {
    let now = Timestamp::now() + SignedDuration::from_hours(2);
    let lease = Lease {
        owner: "test".into(),
        until: now + SignedDuration::from_mins(5),
    };
    let jobs = core
        .storage()
        .claim(Queue::Maintenance, &lease, 100, now)
        .await
        .unwrap();
    let handler = MaintenanceJobHandler::new(core.clone());
    let mut out = Vec::new();
    for job in jobs {
        let result = handler.handle(&job).await;
        match &result {
            Ok(v) => {
                core.storage()
                    .complete(job.id, v.clone(), now)
                    .await
                    .unwrap();
            }
            Err(e) => {
                core.storage()
                    .fail(job.id, &e.to_string(), Some(now), now)
                    .await
                    .unwrap();
            }
        }
        out.push(result);
    }
    out
}

fn change(began: bool) -> AlertChange {
    AlertChange {
        alert: "queue:notifications".into(),
        detail: if began {
            "queue notifications has 12000 pending jobs (alert above 10000)".into()
        } else {
            "queue notifications has 3 pending jobs (alert above 10000)".into()
        },
        began,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_episode_messages_each_opted_in_admin_once_across_nodes_and_again_when_it_recovers() {
    for backend in backends() {
        // The second admin's provider fails once: the retry goes to that admin only.
        let waha = FakeWaha::start(Arc::new(|chat, n| {
            if chat.starts_with("6281211110002") && n == 0 {
                (503, r#"{"error":"busy"}"#.into())
            } else {
                (200, format!(r#"{{"id":"wamid.{chat}.{n}"}}"#))
            }
        }))
        .await;
        let rig = rig(backend, &waha, &[]).await;
        let core = rig.service.core().clone();
        people(&core).await;
        let now = Timestamp::now();

        // Two nodes see the backlog at the same moment: one episode, opened once.
        let (began, ended) = (change(true), change(false));
        let (a, b) = tokio::join!(record(&core, &began, now), record(&core, &began, now));
        let opened: Vec<i64> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
        assert_eq!(opened.len(), 1, "exactly one node opens the episode");
        assert_eq!(
            record(&core, &change(true), now).await.unwrap(),
            None,
            "still open"
        );

        let first = run_jobs(&core).await;
        assert!(
            matches!(&first[..], [Err(JobFailure::Retry(e))] if e.contains("HTTP 503")),
            "{first:?}"
        );
        let second = run_jobs(&core).await;
        assert!(
            matches!(&second[..], [Ok(v)] if v["sent"] == 1),
            "only the admin not yet told: {second:?}"
        );
        let chats: Vec<String> = waha.seen().iter().map(|s| s.chat().to_owned()).collect();
        assert_eq!(
            chats,
            [
                "6281211110001@c.us",
                "6281211110002@c.us",
                "6281211110002@c.us"
            ],
            "opted-in admins only; the failed send retried once"
        );
        assert!(
            waha.seen()[0].body["text"]
                .as_str()
                .unwrap()
                .contains("queue notifications has 12000 pending jobs")
        );

        // The recovery, seen by two nodes: closed once, told once.
        let later = now + SignedDuration::from_mins(14);
        let (a, b) = tokio::join!(record(&core, &ended, later), record(&core, &ended, later));
        let closed: Vec<i64> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
        assert_eq!(
            closed, opened,
            "the same episode, closed by exactly one node"
        );
        let third = run_jobs(&core).await;
        assert!(matches!(&third[..], [Ok(v)] if v["sent"] == 2), "{third:?}");
        let seen = waha.seen();
        let recovered = &seen[3..];
        assert_eq!(recovered.len(), 2);
        let text = recovered[0].body["text"].as_str().unwrap();
        assert!(
            text.contains("recovered") && text.contains("lasted 14 min"),
            "{text}"
        );
        assert_eq!(
            record(&core, &change(false), later).await.unwrap(),
            None,
            "nothing left to close"
        );

        // The next backlog is a new episode.
        let again = record(&core, &change(true), later).await.unwrap();
        assert!(again.is_some_and(|id| id != opened[0]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_server_tells_opted_in_admins_when_a_queue_backs_up_and_when_it_drains() {
    let waha = FakeWaha::ok().await;
    let whatsapp = cctv_notify_whatsapp::factory(&json!({
        "mode": "waha", "base_url": waha.url, "timeout_ms": 2000
    }))
    .unwrap();
    let app = crate::helpers::spawn_app_with(
        crate::helpers::Backend::Sqlite,
        crate::helpers::AppOptions {
            queue_alert_threshold: 3,
            notifiers: vec![whatsapp],
            ..Default::default()
        },
    )
    .await;
    people(&app.core).await;
    // Nothing works the critical queue in this app, so its jobs wait: a backlog.
    let now = Timestamp::now();
    let jobs: Vec<NewJob> = (0..5)
        .map(|i| NewJob::new(Queue::Critical, "held", json!({"n": i}), now))
        .collect();
    app.core.storage().enqueue(&jobs).await.unwrap();
    let wait_for = async |n: usize| {
        for _ in 0..200 {
            if waha.seen().len() >= n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("expected {n} messages, saw {:?}", waha.seen());
    };
    wait_for(2).await;
    let text = waha.seen()[0].body["text"].as_str().unwrap().to_owned();
    assert!(
        text.contains("queue critical has 5 pending jobs (alert above 3)"),
        "{text}"
    );

    let lease = Lease {
        owner: "test".into(),
        until: now + SignedDuration::from_mins(5),
    };
    for job in app
        .core
        .storage()
        .claim(Queue::Critical, &lease, 10, now)
        .await
        .unwrap()
    {
        app.core
            .storage()
            .complete(job.id, json!({}), now)
            .await
            .unwrap();
    }
    wait_for(4).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let seen = waha.seen();
    assert_eq!(
        seen.len(),
        4,
        "one message each when it began and when it ended: {seen:?}"
    );
    assert!(seen[2].body["text"].as_str().unwrap().contains("recovered"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_opts_in_with_a_phone_that_is_checked_and_normalised() {
    let app = crate::helpers::spawn_app(crate::helpers::Backend::Sqlite).await;
    let p = crate::manage::people(&app).await;
    let path = format!("/api/v1/users/{}", p.admin_id);
    let bad = crate::manage::call(
        &app,
        "PUT",
        &path,
        Some(&p.admin),
        Some(json!({"phone": "call me"})),
    )
    .await;
    assert_eq!(bad.status, 422, "{:?}", bad.body);
    assert!(
        bad.body["error"]["details"]["phone"].is_array(),
        "{:?}",
        bad.body
    );
    let ok = crate::manage::call(
        &app,
        "PUT",
        &path,
        Some(&p.admin),
        Some(json!({"phone": "0812 1111 0009", "queue_alerts": true})),
    )
    .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(
        (
            ok.body["data"]["phone"].as_str(),
            ok.body["data"]["queue_alerts"].as_bool()
        ),
        (Some("6281211110009"), Some(true))
    );
    let cleared = crate::manage::call(
        &app,
        "PUT",
        &path,
        Some(&p.admin),
        Some(json!({"phone": ""})),
    )
    .await;
    assert_eq!(
        cleared.body["data"]["phone"],
        Value::Null,
        "{:?}",
        cleared.body
    );
    app.stop().await;
}
