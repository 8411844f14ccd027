//! `cctv import laravel` against a real database of the original system (a fresh
//! PostgreSQL schema built from its migrations' schema, secrets encrypted both ways the
//! original encrypts them): a dry run writes nothing, the import brings everything over,
//! old device keys and passwords keep working, counts and reports equal a recount, and a
//! rerun imports only what is new. Skipped without `CCTV_TEST_PG_URL`.

mod original;

use std::process::Command;

use cctv_admin::access::SecretBox;
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::SqlitePoolOptions;

use crate::crash::{cctv, free_addr, start};
use crate::helpers::*;
use original::*;

const DETECTIONS: usize = 300;

/// `cctv import laravel --json` with the original's keys; the summary it prints.
fn import(dir: &std::path::Path, source: &str, extra: &[&str]) -> Value {
    let mut cmd: Command = cctv(dir, "127.0.0.1:0");
    let out = cmd
        .env("CCTV__TIMEZONE", "Asia/Jakarta")
        .env("CCTV_IMPORT_APP_KEY", app_key_setting())
        .args(["import", "laravel", "--database-url", source, "--json"])
        .args(["--credential-key", CREDENTIAL_KEY, "--batch", "64"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The target's SQLite database, read beside the command or the server.
async fn target_db(dir: &std::path::Path) -> sqlx::SqlitePool {
    let url = format!("sqlite://{}", dir.join("cctv.db").display());
    SqlitePoolOptions::new().connect(&url).await.unwrap()
}

fn imported(summary: &Value, table: &str) -> i64 {
    summary["tables"][table]["imported"].as_i64().unwrap_or(0)
}

fn refused_rows(summary: &Value) -> Vec<String> {
    summary["refusals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["table"].as_str().unwrap(),
                r["row"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_original_installation_moves_over_with_its_keys_passwords_and_history() {
    let Ok(base) = std::env::var("CCTV_TEST_PG_URL") else {
        eprintln!("CCTV_TEST_PG_URL is not set: Laravel import test skipped");
        return;
    };
    // `t_…`: CI drops schemas of earlier runs by that prefix.
    let schema = format!("t_laravel_{}", uuid::Uuid::new_v4().simple());
    let admin_pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&base)
        .await
        .unwrap();
    sqlx::raw_sql(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin_pool)
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let source = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&source)
        .await
        .unwrap();
    original::create(&pool).await;
    let credentials = seed_estate(&pool).await;
    let history = detections(DETECTIONS, 0);
    seed_history(&pool, &history, true).await;

    let dir = tempfile::tempdir().unwrap();
    // A dry run lists everything and writes nothing: the real run then finds it all new.
    let dry = import(dir.path(), &source, &["--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    let first = import(dir.path(), &source, &[]);
    assert_eq!(dry["tables"], first["tables"], "dry run and import differ");
    for (table, n) in [
        ("company_groups", 2),
        ("company_branches", 3),
        ("device_masters", 4),
        ("cctv_streams", 1),
        ("users", 2),
        ("cctv_layout_settings", 1),
        ("branch_event_settings", 2),
        ("whatsapp_settings", 1),
        ("api_credentials", 3),
        ("re_id_branch_detections", DETECTIONS as i64),
        ("event_logs", DETECTIONS as i64),
        ("re_id_masters", 2),
    ] {
        assert_eq!(imported(&first, table), n, "{table}: {first:#}");
    }
    let refused = refused_rows(&first);
    for row in [
        "users broken@cctv.com",
        "whatsapp_settings Broken numbers",
        "re_id_masters GHOST 2026-10-01",
    ] {
        assert!(
            refused.contains(&row.to_owned()),
            "{row} not refused: {refused:?}"
        );
    }
    assert!(
        refused.iter().any(|r| r.starts_with("event_logs #")),
        "{refused:?}"
    );
    assert!(
        first["notes"].to_string().contains("#3 Other key"),
        "the unreadable credential is listed: {first:#}"
    );

    // Counts equal a recount of the source's detections (days in Asia/Jakarta).
    let target = target_db(dir.path()).await;
    let expected = recount(&history);
    let rows = sqlx::query(
        "SELECT re_id, detection_date, total_actual_count, total_detection_branch_count, person_name, status
         FROM re_id_masters ORDER BY re_id, detection_date",
    )
    .fetch_all(&target)
    .await
    .unwrap();
    let ours: Vec<((String, String), (i64, i64))> = rows
        .iter()
        .map(|r| ((r.get(0), r.get(1)), (r.get(2), r.get(3))))
        .collect();
    assert_eq!(ours, expected.clone().into_iter().collect::<Vec<_>>());
    let named: Vec<(String, Option<String>, String)> = rows
        .iter()
        .filter(|r| r.get::<Option<String>, _>(4).is_some() || r.get::<String, _>(5) != "active")
        .map(|r| (r.get(0), r.get(4), r.get(5)))
        .collect();
    assert_eq!(
        named,
        [
            ("P00".into(), Some("Budi".into()), "active".into()),
            ("P07".into(), None, "inactive".into())
        ]
    );
    let notifications: i64 =
        sqlx::query_scalar("SELECT count(*) FROM jobs WHERE queue = 'notifications'")
            .fetch_one(&target)
            .await
            .unwrap();
    assert_eq!(notifications, 0, "imported history notified someone");
    // Camera fields are re-encrypted with our key.
    let secrets = SecretBox::from_base64(
        std::fs::read_to_string(dir.path().join("secret.key"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let (url, password): (String, String) = sqlx::query_as(
        "SELECT url_encrypted, password_encrypted FROM cctv_streams WHERE device_id = 'CCTV_JKT001_001'",
    )
    .fetch_one(&target)
    .await
    .unwrap();
    assert_eq!(secrets.decrypt(&url).unwrap(), "rtsp://10.1.1.10:554/live");
    assert_eq!(secrets.decrypt(&password).unwrap(), "cam-pass-1");
    let template: String = sqlx::query_scalar(
        "SELECT message_template FROM branch_event_settings WHERE device_id = 'CCTV_JKT001_001'",
    )
    .fetch_one(&target)
    .await
    .unwrap();
    assert_eq!(
        template,
        "Orang {{ re_id }} di {{ branch_name }} pada {{ timestamp }} {{ \"{\" }}unknown}"
    );

    // A rerun imports nothing; new detections in the source are imported once.
    let again = import(dir.path(), &source, &[]);
    for (table, counts) in again["tables"].as_object().unwrap() {
        assert_eq!(counts["imported"], 0, "{table} imported again: {again:#}");
    }
    let more = detections(10, DETECTIONS);
    seed_history(&pool, &more, false).await;
    let third = import(dir.path(), &source, &[]);
    assert_eq!(imported(&third, "re_id_branch_detections"), 10);
    assert_eq!(imported(&third, "company_groups"), 0);
    let all: Vec<_> = history.iter().chain(&more).cloned().collect();
    let total: i64 = sqlx::query_scalar("SELECT sum(total_actual_count) FROM re_id_masters")
        .fetch_one(&target)
        .await
        .unwrap();
    assert_eq!(total, all.len() as i64);
    target.close().await;

    // Devices keep their keys, people their passwords; reports equal the recount.
    let listen = free_addr();
    let mut server = start(dir.path(), &listen).await;
    let login = |email: &'static str, password: &'static str| {
        let listen = listen.clone();
        async move {
            let body = json!({"email": email, "password": password}).to_string();
            let headers = [("content-type", "application/json")];
            send(&listen, "POST", "/api/login", &headers, body.into_bytes()).await
        }
    };
    let r = login("admin@cctv.com", ADMIN_PASSWORD).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let token = r.body["data"]["token"].as_str().unwrap().to_owned();
    assert_eq!(login("admin@cctv.com", "wrong-password").await.status, 401);
    // The bcrypt hash was replaced at that login; the password still works.
    assert_eq!(login("admin@cctv.com", ADMIN_PASSWORD).await.status, 200);
    let target = target_db(dir.path()).await;
    let hash: String =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE email = 'admin@cctv.com'")
            .fetch_one(&target)
            .await
            .unwrap();
    assert!(hash.starts_with("$argon2id$"), "not upgraded: {hash}");
    target.close().await;

    let bearer = format!("Bearer {token}");
    let branches = send(
        &listen,
        "GET",
        "/api/v1/company-branches?per_page=100",
        &[("authorization", &bearer)],
        vec![],
    )
    .await;
    let jakarta = branches.body["data"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["branch_code"] == "JKT001"))
        .map(|b| b["id"].as_i64().unwrap())
        .unwrap_or_else(|| panic!("{:?}", branches.body));
    for (key, secret) in [&credentials.laravel, &credentials.credential_key] {
        let body = json!({"re_id": "NEW1", "branch_id": jakarta, "device_id": "CCTV_JKT001_001"})
            .to_string();
        let headers = [
            ("X-API-Key", key.as_str()),
            ("X-API-Secret", secret.as_str()),
            ("content-type", "application/json"),
        ];
        let r = send(
            &listen,
            "POST",
            "/api/v1/detection/log",
            &headers,
            body.into_bytes(),
        )
        .await;
        assert_eq!(r.status, 202, "{key}: {:?}", r.body);
    }

    for day in ["2026-11-01", "2026-11-02", "2026-11-03"] {
        let r = send(
            &listen,
            "GET",
            &format!("/api/v1/reports/daily?date={day}"),
            &[("authorization", &bearer)],
            vec![],
        )
        .await;
        assert_eq!(r.status, 200, "{day}: {:?}", r.body);
        let report = &r.body["data"];
        assert_eq!(report["fresh"], true, "{day} was not rebuilt: {report:#}");
        let of_day: Vec<_> = all.iter().filter(|d| d.day() == day).collect();
        let persons: std::collections::BTreeSet<_> = of_day.iter().map(|d| &d.re_id).collect();
        assert_eq!(report["total_detections"], of_day.len() as u64, "{day}");
        assert_eq!(report["unique_persons"], persons.len() as u64, "{day}");
    }
    let _ = server.kill();
    let _ = server.wait();
    pool.close().await;
    sqlx::raw_sql(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin_pool)
        .await
        .unwrap();
}
