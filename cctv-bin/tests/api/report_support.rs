//! Support of the report tests: the Jakarta data set, posting and waiting, signed-in
//! people.

use std::time::Duration;

use cctv_admin::AdminCore;
use cctv_core::jiff::Timestamp;
use cctv_core::jiff::civil::date;
use cctv_core::jiff::tz::TimeZone;
use cctv_core::jobs::{JobId, JobState, Queue};
use serde_json::{Value, json};

use crate::expected::Posted;
use crate::helpers::*;

pub fn jakarta() -> TimeZone {
    TimeZone::get("Asia/Jakarta").unwrap()
}

/// xorshift64: a fixed data set without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// October 2026 in Jakarta: most rows on the 1st, 15th and 31st, some anywhere, and rows
/// on both sides of the local midnights (17:00 UTC).
pub fn data_set(app: &TestApp) -> Vec<Posted> {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut rows = Vec::new();
    let edges = [
        "2026-09-30T16:59:59Z", // 23:59:59 on 30 Sep: not October
        "2026-09-30T17:00:00Z", // 00:00 on 1 Oct
        "2026-10-15T16:59:59Z",
        "2026-10-15T17:00:00Z", // 00:00 on the 16th
        "2026-10-31T16:59:59Z", // the month's last second
        "2026-10-31T17:00:00Z", // 1 Nov: not October
    ];
    for (i, at) in edges.iter().enumerate() {
        rows.push(Posted::new(
            app,
            i % 3,
            &format!("p{}", i % 4),
            1 + i as i64 % 3,
            at.parse().unwrap(),
        ));
    }
    let busy = [date(2026, 10, 1), date(2026, 10, 15), date(2026, 10, 31)];
    for _ in 0..140 {
        let day = if rng.below(4) == 0 {
            date(2026, 10, 1 + rng.below(31) as i8)
        } else {
            busy[rng.below(3) as usize]
        };
        let local = day.at(
            rng.below(24) as i8,
            rng.below(60) as i8,
            rng.below(60) as i8,
            0,
        );
        let at = local.to_zoned_datetime(jakarta()).unwrap().timestamp();
        let spread = rng.below(14) + 1;
        let person = format!("p{}", rng.below(spread));
        let branch = rng.below(3) as usize;
        rows.push(Posted::new(
            app,
            branch,
            &person,
            1 + rng.below(4) as i64,
            at,
        ));
    }
    rows
}

/// Posts `rows` and waits until they are processed.
pub async fn post_all(app: &TestApp, rows: &[Posted]) {
    let before = app.detections_total().await;
    for row in rows {
        let r = app.post_json(&row.body()).await;
        assert_eq!(r.status, 202, "{:?}", r.body);
    }
    for _ in 0..500 {
        if app.detections_total().await == before + rows.len() as u64 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("detections were not all processed");
}

/// Waits until a job is settled; returns its final state.
pub async fn settled(app: &TestApp, id: &str) -> JobState {
    let id: JobId = id.parse().unwrap();
    for _ in 0..500 {
        let job = app.core.storage().job(id).await.unwrap().unwrap();
        if matches!(job.state, JobState::Completed | JobState::Failed) {
            return job.state;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("job {id} did not settle");
}

/// Asks for a report until it is fresh, waiting for the generation it queues.
pub async fn fresh_report(app: &TestApp, token: &str, path: &str) -> Value {
    for _ in 0..5 {
        let r = get_as(app, token, path).await;
        assert!(matches!(r.status, 200 | 202), "{path}: {:?}", r.body);
        if r.body["data"]["fresh"] == true {
            return r.body["data"].clone();
        }
        let job = r.body["data"]["job_id"].as_str().unwrap().to_owned();
        assert_eq!(settled(app, &job).await, JobState::Completed);
    }
    panic!("{path} never became fresh");
}

pub fn check_headline(report: &Value, expected: &Value) {
    for field in [
        "total_detections",
        "unique_persons",
        "total_detected_count",
        "unique_devices",
        "total_events",
    ] {
        assert_eq!(report[field], expected[field], "{field}");
    }
    assert_eq!(&report["report_data"], expected);
}

pub async fn wait_queue_empty(app: &TestApp, queue: Queue) {
    for _ in 0..500 {
        let stats = app
            .core
            .queue_admin()
            .unwrap()
            .queue_stats(Timestamp::now())
            .await
            .unwrap();
        if stats
            .iter()
            .find(|s| s.queue == queue)
            .is_some_and(|s| s.pending == 0)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the {} queue did not drain", queue.as_str());
}

/// A bearer token of a new user with `role` (operators assigned to `branches`).
pub async fn token(app: &TestApp, role: &str, branches: &[i64]) -> String {
    signed_in(app, role, branches).await.1
}

/// A new user with `role` (operators assigned to `branches`), password `correct horse`:
/// their email and a bearer token.
pub async fn signed_in(app: &TestApp, role: &str, branches: &[i64]) -> (String, String) {
    use cctv_admin::manage::{Caller, ManageSettings, Manager, Resource};
    let manager = Manager::new(app.core.clone(), ManageSettings::default());
    let email = format!("{role}-{}@example.test", uuid::Uuid::new_v4().simple());
    let system = cctv_admin::access::Principal {
        user_id: 0,
        email: "test".into(),
        name: "test".into(),
        role: cctv_admin::access::Role::Admin,
        branches: Default::default(),
        groups: Default::default(),
        token_id: None,
        scopes: None,
    };
    let body = json!({"name": role, "email": email, "password": "correct horse", "role": role, "branch_ids": branches});
    manager
        .create(
            Caller {
                who: &system,
                ip: "test",
            },
            Resource::Users,
            &body,
        )
        .await
        .unwrap();
    let token = manager
        .login(&email, "correct horse", "test")
        .await
        .unwrap()
        .token;
    (email, token)
}

pub async fn get_as(app: &TestApp, token: &str, path: &str) -> Resp {
    let bearer = format!("Bearer {token}");
    send(
        &app.addr,
        "GET",
        path,
        &[("authorization", &bearer)],
        Vec::new(),
    )
    .await
}
