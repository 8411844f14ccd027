//! Stored secrets (API secret, device password, stream password) never appear in a
//! response body, a log line or a database column in plain text.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use cctv_admin::manage::tables::{AUDIT_LOGS, STREAMS, USERS};
use cctv_core::records::tables::{CREDENTIALS, DEVICES};
use cctv_core::records::{ListQuery, Order};
use serde_json::json;

use super::{call, people};
use crate::helpers::*;

/// Everything any test in this binary logs (debug and up), for grepping.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || SharedWriter(sink.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    })
    .clone()
}

struct SharedWriter(Arc<Mutex<Vec<u8>>>);

impl Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_responses_logs_or_database_columns() {
    let logs = captured_logs();
    for backend in backends() {
        let app = spawn_app(backend).await;
        let p = people(&app).await;
        let device_password = format!("DevPass-{}", uuid::Uuid::new_v4().simple());
        let stream_password = format!("StreamPass-{}", uuid::Uuid::new_v4().simple());
        let mut bodies = Vec::new();

        let device = call(
            &app,
            "POST",
            "/api/v1/device-masters",
            Some(&p.admin),
            Some(json!({
                "device_id": "CCTV_SECRET_1", "device_name": "Lobby", "device_type": "cctv",
                "branch_id": app.branch(0), "url": "rtsp://10.0.0.9:554/live",
                "username": "camuser", "password": device_password,
            })),
        )
        .await;
        assert_eq!(device.status, 201, "{:?}", device.body);
        assert_eq!(device.body["data"]["has_password"], true);
        assert_eq!(device.body["data"]["url"], "rtsp://10.0.0.9:554/live");
        bodies.push(device.body.to_string());
        let stream = call(&app, "POST", "/api/v1/cctv-streams", Some(&p.admin), Some(json!({
            "branch_id": app.branch(0), "device_id": app.device(0), "stream_name": "Gate",
            "url": "http://10.0.0.7/live.m3u8", "username": "viewer", "password": stream_password,
        }))).await;
        assert_eq!(stream.status, 201, "{:?}", stream.body);
        bodies.push(stream.body.to_string());
        let created = call(
            &app,
            "POST",
            "/api/v1/api-credentials",
            Some(&p.admin),
            Some(json!({"credential_name": "edge"})),
        )
        .await;
        let api_secret = created.body["data"]["api_secret"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(api_secret.len(), 64);
        let cred_id = created.body["data"]["id"].as_i64().unwrap();
        let stream_id = stream.body["data"]["id"].as_i64().unwrap();
        let device_id = device.body["data"]["id"].as_i64().unwrap();
        // The secret works for its device API, shown once: no later read returns it.
        let key = created.body["data"]["api_key"].as_str().unwrap().to_owned();
        let test = send(
            &app.addr,
            "GET",
            &format!("/api/v1/api-credentials/{cred_id}/test"),
            &[("x-api-key", &key), ("x-api-secret", &api_secret)],
            vec![],
        )
        .await;
        assert_eq!(test.status, 200, "{:?}", test.body);

        for path in [
            "/api/v1/device-masters".to_owned(),
            format!("/api/v1/device-masters/{device_id}"),
            "/api/v1/cctv-streams".to_owned(),
            format!("/api/v1/cctv-streams/{stream_id}"),
            "/api/v1/api-credentials".to_owned(),
            format!("/api/v1/api-credentials/{cred_id}"),
            "/api/v1/audit-logs?per_page=100".to_owned(),
            "/api/v1/users".to_owned(),
            "/api/v1/branch-event-settings".to_owned(),
        ] {
            let r = call(&app, "GET", &path, Some(&p.admin), None).await;
            assert_eq!(r.status, 200, "{path}");
            bodies.push(r.body.to_string());
        }
        // The live view plays the stream through the server's proxy: no credentials.
        let playable = call(
            &app,
            "GET",
            &format!("/api/v1/cctv/streams/{}", app.device(0)),
            Some(&p.viewer),
            None,
        )
        .await;
        assert_eq!(playable.status, 200, "{:?}", playable.body);
        assert_eq!(
            playable.body["data"]["stream_url"],
            format!("/api/v1/cctv/streams/{}/proxy", app.device(0))
        );
        bodies.push(playable.body.to_string());

        let mut columns = String::new();
        for table in [&DEVICES, &STREAMS, &CREDENTIALS, &AUDIT_LOGS, &USERS] {
            let query = ListQuery {
                filters: vec![],
                order: Order::NEWEST_FIRST,
                page: 1,
                per_page: 100,
            };
            let (rows, _) = app
                .core
                .storage()
                .list_records(table, &query)
                .await
                .unwrap();
            columns.push_str(&serde_json::to_string(&rows).unwrap());
        }
        assert!(
            columns.contains("password_encrypted"),
            "the dump holds the ciphertext columns"
        );
        let mut raw_files = Vec::new();
        if backend == Backend::Sqlite {
            for name in ["cctv.db", "cctv.db-wal"] {
                raw_files.extend(std::fs::read(app.dir.path().join(name)).unwrap_or_default());
            }
            assert!(!raw_files.is_empty());
        }
        let log_text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
        for secret in [
            &api_secret,
            &device_password,
            &stream_password,
            &"secret-pass-1".to_owned(),
        ] {
            for body in &bodies {
                assert!(
                    !body.contains(secret.as_str()),
                    "{backend:?}: a response contains a secret"
                );
            }
            assert!(
                !columns.contains(secret.as_str()),
                "{backend:?}: a column holds a secret in clear"
            );
            assert!(
                !log_text.contains(secret.as_str()),
                "{backend:?}: a log line holds a secret"
            );
            let needle = secret.as_bytes();
            assert!(
                !raw_files.windows(needle.len()).any(|w| w == needle),
                "{backend:?}: the database file holds a secret in clear"
            );
        }
        app.stop().await;
    }
}
