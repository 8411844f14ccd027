//! End to end through the real `cctv serve` binary (embedded SQLite): WhatsApp enabled
//! through the management API, a detection posted by a device, WAHA faked on loopback.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use cctv_admin::notify::context::EVENT_LOGS;
use cctv_admin::notify::summary::WHATSAPP_DELIVERY_SUMMARY;
use cctv_core::jiff::Timestamp;
use cctv_core::jiff::tz::TimeZone;
use cctv_core::records::Filter;
use cctv_core::records::RecordStore;
use cctv_storage_sqlite::{SqliteSettings, SqliteStore};
use serde_json::{Value, json};

use super::FakeWaha;
use crate::crash::{cctv, free_addr};
use crate::helpers::{send, try_send};

const WAHA_KEY: &str = "e2e-waha-key-not-for-logs";

/// `cctv serve` on `dir` with WhatsApp through `waha`; its log goes to `dir/serve.log`.
pub(crate) async fn serve(dir: &std::path::Path, listen: &str, waha: &FakeWaha) -> Child {
    let log = std::fs::File::create(dir.join("serve.log")).unwrap();
    let mut child = cctv(dir, listen)
        .env("RUST_LOG", "info")
        .env("CCTV__NOTIFICATIONS__POLL_INTERVAL_MS", "100")
        .env("CCTV__NOTIFICATIONS__CHANNELS__WHATSAPP__ENABLED", "true")
        .env(
            "CCTV__NOTIFICATIONS__CHANNELS__WHATSAPP__SETTINGS__BASE_URL",
            &waha.url,
        )
        .env(
            "CCTV__NOTIFICATIONS__CHANNELS__WHATSAPP__SETTINGS__API_KEY",
            WAHA_KEY,
        )
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn cctv serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if try_send(listen, "GET", "/health", &[], vec![])
            .await
            .is_ok_and(|r| r.status == 200)
        {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "cctv serve did not become healthy: {}",
        std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
    );
}

pub(crate) async fn api(
    listen: &str,
    method: &str,
    path: &str,
    token: &str,
    body: Value,
) -> crate::helpers::Resp {
    let bearer = format!("Bearer {token}");
    let h = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
        ("accept", "application/json"),
    ];
    send(listen, method, path, &h, serde_json::to_vec(&body).unwrap()).await
}

/// `cctv demo` on `dir` (the demo estate and a credential, printed as JSON) and an admin
/// `admin@e2e.test` created with `cctv user create`.
pub(crate) fn demo_with_admin(dir: &std::path::Path, listen: &str) -> Value {
    let demo = cctv(dir, listen).args(["demo", "--json"]).output().unwrap();
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    crate::crash::create_user(
        cctv(dir, listen),
        "admin@e2e.test",
        "Admin",
        "e2e-admin-password",
    );
    serde_json::from_slice(&demo.stdout).unwrap()
}

/// A bearer token of the admin made by [`demo_with_admin`].
pub(crate) async fn login_admin(listen: &str) -> String {
    let login = send(
        listen,
        "POST",
        "/api/login",
        &[("content-type", "application/json")],
        serde_json::to_vec(&json!({"email": "admin@e2e.test", "password": "e2e-admin-password"}))
            .unwrap(),
    )
    .await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    login.body["data"]["token"].as_str().unwrap().to_owned()
}

/// WhatsApp messages with `template` to two numbers for detections of `device_id`.
pub(crate) async fn enable_whatsapp(
    listen: &str,
    token: &str,
    branch_id: i64,
    device_id: &str,
    template: &str,
) {
    let created = api(listen, "POST", "/api/v1/branch-event-settings", token,
        json!({"branch_id": branch_id, "device_id": device_id, "is_active": true, "whatsapp_enabled": false})).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["data"]["id"].as_i64().unwrap();
    let enabled = api(listen, "PUT", &format!("/api/v1/branch-event-settings/{id}"), token, json!({
        "whatsapp_enabled": true, "send_message": true,
        "whatsapp_numbers": ["0812-3456-7890", "+62 813 1111 2222"], "message_template": template,
    }))
    .await;
    assert_eq!(enabled.status, 200, "{:?}", enabled.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detection_with_whatsapp_enabled_messages_each_recipient_once_through_cctv_serve() {
    let waha = FakeWaha::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let listen = free_addr();
    let estate = demo_with_admin(dir.path(), &listen);
    let device = &estate["devices"][0];
    let branch_id = device["branch_id"].as_i64().unwrap();
    let device_id = device["device_id"].as_str().unwrap();
    let branch = estate["branches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == branch_id)
        .unwrap();
    let mut server = serve(dir.path(), &listen, &waha).await;
    let token = login_admin(&listen).await;
    let template = "{person_name} at {branch_name} ({device_id}): {{ detected_count }} person(s)";
    enable_whatsapp(&listen, &token, branch_id, device_id, template).await;

    let key = estate["credential"]["api_key"].as_str().unwrap();
    let secret = estate["credential"]["api_secret"].as_str().unwrap();
    let device_headers = [
        ("x-api-key", key),
        ("x-api-secret", secret),
        ("content-type", "application/json"),
    ];
    let body = json!({"re_id": "E2E_PERSON", "branch_id": branch_id, "device_id": device_id, "detected_count": 2});
    let accepted = send(
        &listen,
        "POST",
        "/api/v1/detection/log",
        &device_headers,
        serde_json::to_vec(&body).unwrap(),
    )
    .await;
    assert_eq!(accepted.status, 202, "{:?}", accepted.body);

    let deadline = Instant::now() + Duration::from_secs(20);
    while waha.seen().len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = waha.seen();
    let mut chats: Vec<&str> = seen.iter().map(|s| s.chat()).collect();
    chats.sort();
    assert_eq!(
        chats,
        ["6281234567890@c.us", "6281311112222@c.us"],
        "exactly one message per recipient"
    );
    let expected = format!(
        "Unknown Person at {} ({device_id}): 2 person(s)",
        branch["branch_name"].as_str().unwrap()
    );
    for s in &seen {
        assert_eq!(
            (
                s.path.as_str(),
                s.body["text"].as_str(),
                s.api_key.as_deref()
            ),
            ("/api/sendText", Some(expected.as_str()), Some(WAHA_KEY))
        );
    }

    let today = Timestamp::now().to_zoned_datetime(TimeZone::UTC).date();
    let log_file = dir
        .path()
        .join(format!("logs/whatsapp_messages/{today}.log"));
    let lines: Vec<Value> = std::fs::read_to_string(&log_file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "one line per attempt: {lines:?}");
    assert!(lines.iter().all(|l| l["status"] == "sent"
        && l["device_id"] == device_id
        && l["branch_id"] == branch_id));

    server.kill().unwrap();
    server.wait().unwrap();
    let server_log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(
        !server_log.contains(WAHA_KEY),
        "the WAHA key never reaches the log"
    );
    let aggregated = cctv(dir.path(), &listen)
        .args(["aggregate", "--date", &today.to_string()])
        .output()
        .unwrap();
    assert!(
        aggregated.status.success(),
        "{}",
        String::from_utf8_lossy(&aggregated.stderr)
    );
    let said = String::from_utf8_lossy(&aggregated.stdout);
    assert!(
        said.contains("2 lines (0 unreadable) folded into 1 summary row(s)"),
        "{said}"
    );
    let mut settings = SqliteSettings::new(dir.path().join("cctv.db"));
    settings.fsync_every_commit = false;
    let store = SqliteStore::open(&settings).await.unwrap();
    let event = store
        .find_record(&EVENT_LOGS, &[Filter::Eq("re_id", json!("E2E_PERSON"))])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            event["notification_sent"].as_bool(),
            event["message_sent"].as_bool(),
            event["image_sent"].as_bool()
        ),
        (Some(true), Some(true), Some(false))
    );
    let summary = store
        .find_record(
            &WHATSAPP_DELIVERY_SUMMARY,
            &[Filter::Eq("summary_date", json!(today.to_string()))],
        )
        .await
        .unwrap()
        .unwrap();
    let totals = [
        "total_sent",
        "total_delivered",
        "total_failed",
        "unique_recipients",
    ]
    .map(|c| summary[c].as_i64().unwrap());
    assert_eq!(
        (totals, summary["device_id"].as_str()),
        ([2, 2, 0, 2], Some(device_id))
    );
}
