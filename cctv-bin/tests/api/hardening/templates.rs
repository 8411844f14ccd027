//! Templates written by people are bounded: a runaway template is refused when it is saved,
//! fails only its own message when it was stored anyway, and never holds the server.

use std::time::{Duration, Instant};

use cctv_admin::notify::Settled;
use cctv_core::jiff::Timestamp;
use serde_json::json;

use crate::helpers::*;
use crate::manage::{call, people};
use crate::notify::{FakeWaha, rig_with_template};

const RUNAWAY: &str = "{% for a in range(100000) %}{% for b in range(1200) %}{{ branch_name }}{% endfor %}{% endfor %}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_template_is_refused_at_save_and_the_server_keeps_answering() {
    let app = spawn_app(Backend::Sqlite).await;
    let who = people(&app).await;
    let saves: Vec<_> = (0..4)
        .map(|n| {
            let addr = app.addr.clone();
            let admin = who.admin.clone();
            tokio::spawn(async move {
                let bearer = format!("Bearer {admin}");
                let body = json!({"name": format!("Runaway {n}"), "phone_numbers": ["081234567890"],
                    "message_template": RUNAWAY});
                send(
                    &addr,
                    "POST",
                    "/api/v1/whatsapp-settings",
                    &[
                        ("authorization", bearer.as_str()),
                        ("content-type", "application/json"),
                        ("accept", "application/json"),
                    ],
                    serde_json::to_vec(&body).unwrap(),
                )
                .await
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let started = Instant::now();
        assert_eq!(
            send(&app.addr, "GET", "/health", &[], vec![]).await.status,
            200
        );
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for save in saves {
        let r = save.await.unwrap();
        assert_eq!(r.status, 422, "{:?}", r.body);
        let message = r.body["error"]["details"]["message_template"][0]
            .as_str()
            .unwrap();
        assert!(message.contains("budget"), "{message}");
    }
    // Unbounded, these templates would hold a worker for minutes; bounded, each costs
    // milliseconds. The limit leaves room for the rest of the suite sharing two cores (a
    // CI run measured 1.06 s while a million-row export test ran beside it).
    assert!(slowest < Duration::from_secs(5), "/health took {slowest:?}");
    // The same on the device event settings.
    let r = call(
        &app,
        "POST",
        "/api/v1/branch-event-settings",
        Some(&who.admin),
        Some(json!({"branch_id": app.branch(0), "device_id": app.device(0), "message_template": RUNAWAY})),
    )
    .await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert!(r.body["error"]["details"]["message_template"].is_array());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_template_stored_anyway_fails_its_message_and_not_the_worker() {
    for backend in backends() {
        let waha = FakeWaha::ok().await;
        let rig = rig_with_template(backend, &waha, &["081234567890"], RUNAWAY).await;
        for re_id in ["P1", "P2"] {
            rig.detect(0, re_id, Timestamp::now()).await;
        }
        let started = Instant::now();
        let settled = rig.run_due(Timestamp::now()).await;
        assert_eq!(settled.len(), 2, "{backend:?}");
        for s in &settled {
            assert!(
                matches!(s, Settled::Failed(e) if e.contains("budget")),
                "{backend:?}: {s:?}"
            );
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{backend:?}");
        assert!(waha.seen().is_empty(), "{backend:?}: nothing was sent");
    }
}
