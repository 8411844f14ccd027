//! Notifications: a fake WAHA on loopback, the notification service driven with explicit
//! times (retries and cooldowns without waiting), and `cctv serve` end to end.

mod cooldown;
mod ops_alerts;
mod retries;
pub(crate) mod serve;
mod webhooks;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use cctv_admin::AdminBuilder;
use cctv_admin::manage::tables::EVENT_SETTINGS;
use cctv_admin::notify::delivery_log::DeliveryLog;
use cctv_admin::notify::{NotificationService, NotificationSettings, Settled};
use cctv_admin::storage::FullStorage;
use cctv_core::Core;
use cctv_core::jiff::Timestamp;
use cctv_core::jiff::tz::TimeZone;
use cctv_core::jobs::{Lease, Queue};
use cctv_core::person_day::PreparedDetection;
use cctv_core::records::WriteOp;
use cctv_core::storage::AcceptItem;
use cctv_storage_postgres::{PgSettings, PgStore};
use cctv_storage_sqlite::{SqliteSettings, SqliteStore};
use cctv_testkit::{Estate, job, seed};
use salvo::conn::tcp::TcpAcceptor;
use salvo::http::StatusCode;
use salvo::{Depot, FlowCtrl, Handler, Request, Response, Router, Server, Service, async_trait};
use serde_json::{Value, json};

use crate::helpers::Backend;

/// One request the fake WAHA received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub api_key: Option<String>,
    pub body: Value,
}

impl Seen {
    pub fn chat(&self) -> &str {
        self.body["chatId"].as_str().unwrap_or_default()
    }
}

/// Answers the `nth` (0-based) request for a chat id with (status, body).
pub type Script = Arc<dyn Fn(&str, usize) -> (u16, String) + Send + Sync>;

#[derive(Clone)]
pub struct FakeWaha {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    retry_after: Arc<Mutex<Option<String>>>,
}

struct Fake {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Script,
    retry_after: Arc<Mutex<Option<String>>>,
}

impl FakeWaha {
    /// Starts on 127.0.0.1 with a free port (never any other address).
    pub async fn start(script: Script) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let retry_after = Arc::new(Mutex::new(None));
        let router = Router::with_path("{**rest}").goal(Fake {
            seen: seen.clone(),
            script,
            retry_after: retry_after.clone(),
        });
        tokio::spawn(
            Server::new(TcpAcceptor::try_from(listener).unwrap()).serve(Service::new(router)),
        );
        Self {
            url,
            seen,
            retry_after,
        }
    }

    /// Every answer that is not 2xx carries `Retry-After: value` from now on.
    pub fn set_retry_after(&self, value: &str) {
        *self.retry_after.lock().unwrap() = Some(value.to_owned());
    }

    /// 200 with a message id for every request.
    pub async fn ok() -> Self {
        Self::start(Arc::new(|chat, n| {
            (200, json!({"id": format!("wamid.{chat}.{n}")}).to_string())
        }))
        .await
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests per chat id.
    pub fn per_chat(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for s in self.seen() {
            *counts.entry(s.chat().to_owned()).or_default() += 1;
        }
        counts
    }
}

#[async_trait]
impl Handler for Fake {
    async fn handle(&self, req: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        let body: Value = req
            .payload_with_max_size(16 << 20)
            .await
            .ok()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        let seen = Seen {
            path: req.uri().path().to_owned(),
            api_key: req
                .headers()
                .get("x-api-key")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body,
        };
        let (status, reply) = {
            let mut all = self.seen.lock().unwrap();
            let nth = all.iter().filter(|s| s.chat() == seen.chat()).count();
            let answer = (self.script)(seen.chat(), nth);
            all.push(seen);
            answer
        };
        res.status_code(StatusCode::from_u16(status).unwrap());
        res.add_header("content-type", "application/json", true)
            .unwrap();
        let retry_after = self.retry_after.lock().unwrap().clone();
        if let Some(value) = retry_after.filter(|_| !(200..300).contains(&status)) {
            res.add_header("retry-after", value, true).unwrap();
        }
        res.write_body(reply).unwrap();
    }
}

pub const TEMPLATE: &str =
    "{person_name} seen at {branch_name} by {{ device_name }}, count {detected_count}";

/// A store with the seeded estate, WhatsApp enabled on branch 0 / device 0 for `numbers`,
/// a core whose one channel is WAHA pointing at the fake, and the service under test.
pub struct Rig {
    pub store: Arc<dyn FullStorage>,
    pub service: NotificationService,
    pub estate: Estate,
    pub log_dir: PathBuf,
    _dir: tempfile::TempDir,
}

pub async fn open_store(backend: Backend, dir: &std::path::Path) -> Arc<dyn FullStorage> {
    match backend {
        Backend::Sqlite => {
            let mut s = SqliteSettings::new(dir.join("cctv.db"));
            s.fsync_every_commit = false;
            Arc::new(SqliteStore::open(&s).await.unwrap())
        }
        Backend::Postgres => {
            let mut s = PgSettings::new(std::env::var("CCTV_TEST_PG_URL").unwrap());
            s.schema = Some(format!("t_{}", uuid::Uuid::new_v4().simple()));
            s.max_connections = 8;
            Arc::new(PgStore::open(&s).await.unwrap())
        }
    }
}

pub async fn rig(backend: Backend, waha: &FakeWaha, numbers: &[&str]) -> Rig {
    rig_with_template(backend, waha, numbers, TEMPLATE).await
}

/// [`rig`] with another message template, stored as is (no validation).
pub async fn rig_with_template(
    backend: Backend,
    waha: &FakeWaha,
    numbers: &[&str],
    template: &str,
) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(backend, dir.path()).await;
    let estate = seed(store.as_ref()).await;
    let settings = json!({
        "branch_id": estate.branches[0].id, "device_id": estate.devices[0].device_id,
        "is_active": true, "whatsapp_enabled": true, "send_message": true, "send_image": false,
        "whatsapp_numbers": numbers, "message_template": template,
    });
    let Value::Object(record) = settings else {
        unreachable!()
    };
    store
        .apply(&[WriteOp::Insert {
            table: &EVENT_SETTINGS,
            record,
            link: None,
        }])
        .await
        .unwrap();
    let whatsapp = cctv_notify_whatsapp::factory(&json!({
        "mode": "waha", "base_url": waha.url, "api_key": "waha-test-key", "timeout_ms": 2000
    }))
    .unwrap();
    let core = Core::builder()
        .full_storage(store.clone())
        .notifier(whatsapp)
        .webhook_transport(crate::helpers::webhook_transport())
        .build()
        .await
        .unwrap();
    let log_dir = dir.path().join("logs/whatsapp_messages");
    let log = DeliveryLog::start(log_dir.clone(), TimeZone::UTC).unwrap();
    let service = NotificationService::new(core, NotificationSettings::default(), Some(log));
    Rig {
        store,
        service,
        estate,
        log_dir,
        _dir: dir,
    }
}

impl Rig {
    /// Processes one detection on branch `n` (which enqueues its notification job).
    pub async fn detect(&self, n: usize, re_id: &str, at: Timestamp) -> i64 {
        let j = job(&self.estate, n, re_id, 1, &at.to_string());
        let item = AcceptItem {
            job: j.clone(),
            lease: None,
        };
        self.store
            .accept_detections(&[item], Timestamp::now())
            .await
            .unwrap();
        let done = self
            .store
            .process_detections(
                &[PreparedDetection::new(j, &TimeZone::UTC)],
                Timestamp::now(),
            )
            .await
            .unwrap();
        done[0].event_log_id.unwrap()
    }

    /// Claims every notification job due at `now` and runs each at `now`.
    pub async fn run_due(&self, now: Timestamp) -> Vec<Settled> {
        let lease = Lease {
            owner: "test".into(),
            until: now + cctv_core::jiff::SignedDuration::from_mins(5),
        };
        let jobs = self
            .store
            .claim(Queue::Notifications, &lease, 1000, now)
            .await
            .unwrap();
        let mut out = Vec::new();
        for j in jobs {
            out.push(self.service.handle(&j, now).await.unwrap());
        }
        out
    }

    /// Every message-log line written so far (all days).
    pub async fn log_lines(&self) -> Vec<Value> {
        self.service.log().unwrap().flush().await;
        let mut lines = Vec::new();
        let mut files: Vec<_> = std::fs::read_dir(&self.log_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            for l in std::fs::read_to_string(f).unwrap().lines() {
                lines.push(serde_json::from_str(l).unwrap());
            }
        }
        lines
    }
}
