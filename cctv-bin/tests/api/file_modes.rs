//! The real `cctv serve` on a data directory it creates itself: the database files, the
//! logs and the keys are readable by the service's user only, like their directories.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use cctv_core::jiff::Timestamp;
use cctv_core::jiff::tz::TimeZone;
use serde_json::json;

use crate::crash::free_addr;
use crate::helpers::send;
use crate::notify::FakeWaha;
use crate::notify::serve::{demo_with_admin, enable_whatsapp, login_admin, serve};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_log_and_key_files_are_created_for_the_owner_only() {
    let waha = FakeWaha::ok().await;
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let listen = free_addr();
    let estate = demo_with_admin(&data, &listen);
    let mut server = serve(&data, &listen, &waha).await;
    let token = login_admin(&listen).await;
    let device = &estate["devices"][0];
    let device_id = device["device_id"].as_str().unwrap();
    let branch_id = device["branch_id"].as_i64().unwrap();
    enable_whatsapp(&listen, &token, branch_id, device_id, "{re_id} seen").await;
    let key = estate["credential"]["api_key"].as_str().unwrap();
    let secret = estate["credential"]["api_secret"].as_str().unwrap();
    let body = json!({"re_id": "MODES", "branch_id": branch_id, "device_id": device_id});
    let accepted = send(
        &listen,
        "POST",
        "/api/v1/detection/log",
        &[
            ("x-api-key", key),
            ("x-api-secret", secret),
            ("content-type", "application/json"),
        ],
        serde_json::to_vec(&body).unwrap(),
    )
    .await;
    assert_eq!(accepted.status, 202, "{:?}", accepted.body);

    let today = Timestamp::now().to_zoned_datetime(TimeZone::UTC).date();
    let logs = [
        data.join(format!("logs/api_requests/{today}.log")),
        data.join(format!("logs/whatsapp_messages/{today}.log")),
    ];
    let deadline = Instant::now() + Duration::from_secs(20);
    while !logs.iter().all(|l| l.exists()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut files: Vec<_> = [
        "cctv.db",
        "cctv.db-wal",
        "cctv.db-shm",
        "cctv-intake.db",
        "cctv-intake.db-wal",
        "cctv-intake.db-shm",
        "secret.key",
        "signing.key",
    ]
    .iter()
    .map(|f| data.join(f))
    .collect();
    files.extend(logs);
    let dirs = [
        data.clone(),
        data.join("logs"),
        data.join("logs/api_requests"),
        data.join("logs/whatsapp_messages"),
    ];
    let modes: Vec<(String, String)> = files
        .iter()
        .chain(&dirs)
        .map(|p| {
            let name = p.strip_prefix(root.path()).unwrap().display().to_string();
            (name, format!("{:o}", mode(p)))
        })
        .collect();
    server.kill().unwrap();
    server.wait().unwrap();
    let expected: Vec<(String, String)> = modes
        .iter()
        .enumerate()
        .map(|(i, (p, _))| {
            (
                p.clone(),
                if i < files.len() { "600" } else { "700" }.into(),
            )
        })
        .collect();
    assert_eq!(modes, expected);
}
