//! Detections and event logs against the branch and device tables on a real PostgreSQL
//! (skipped without `CCTV_TEST_PG_URL`). Processing checks a batch's branches and devices
//! once instead of a foreign key per row, and triggers carry what the foreign keys'
//! cascades did: these tests hold both sides.

use std::str::FromStr;

use cctv_core::storage::{IngestStore, StorageError};
use cctv_storage_postgres::{PgSettings, PgStore};
use cctv_testkit::{accept, accept_and_process, job, prepare, seed};
use jiff::Timestamp;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// A store in a fresh schema, and a pool whose connections use that schema.
async fn store() -> Option<(PgStore, PgPool)> {
    let Ok(url) = std::env::var("CCTV_TEST_PG_URL") else {
        eprintln!("CCTV_TEST_PG_URL is not set: estate key test skipped");
        return None;
    };
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut settings = PgSettings::new(url.clone());
    settings.schema = Some(schema.clone());
    settings.max_connections = 2;
    let store = PgStore::open(&settings).await.unwrap();
    let options = PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    Some((store, pool))
}

/// Detections and event-log rows of `device`.
async fn rows_of(pool: &PgPool, device: &str) -> (i64, i64) {
    let count = |table: &str| format!("SELECT count(*) FROM {table} WHERE device_id = $1");
    let detections: i64 = sqlx::query_scalar(&count("re_id_branch_detections"))
        .bind(device)
        .fetch_one(pool)
        .await
        .unwrap();
    let events: i64 = sqlx::query_scalar(&count("event_logs"))
        .bind(device)
        .fetch_one(pool)
        .await
        .unwrap();
    (detections, events)
}

#[tokio::test]
async fn a_batch_naming_a_removed_device_is_refused_and_writes_nothing() {
    let Some((store, pool)) = store().await else {
        return;
    };
    let estate = seed(&store).await;
    let gone = job(&estate, 0, "R1", 1, "2026-11-28T09:00:00Z");
    let kept = job(&estate, 1, "R2", 1, "2026-11-28T09:00:00Z");
    accept(&store, &[gone.clone(), kept.clone()]).await;
    sqlx::query("DELETE FROM device_masters WHERE device_id = $1")
        .bind(&gone.device_id)
        .execute(&pool)
        .await
        .unwrap();

    let refused = store
        .process_detections(&prepare(&[gone.clone(), kept.clone()]), Timestamp::now())
        .await;
    match refused {
        Err(StorageError::Rejected(why)) => assert!(why.contains(&gone.device_id), "{why}"),
        other => panic!("expected a rejection naming the device, got {other:?}"),
    }
    assert_eq!(rows_of(&pool, &gone.device_id).await, (0, 0));
    assert_eq!(rows_of(&pool, &kept.device_id).await, (0, 0));

    // The rest of the batch goes through on its own.
    let done = store
        .process_detections(&prepare(std::slice::from_ref(&kept)), Timestamp::now())
        .await
        .unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(rows_of(&pool, &kept.device_id).await, (1, 1));
}

#[tokio::test]
async fn removing_or_renaming_a_branch_or_device_carries_to_its_detections() {
    let Some((store, pool)) = store().await else {
        return;
    };
    let estate = seed(&store).await;
    let jobs: Vec<_> = (0..3)
        .map(|n| job(&estate, n, &format!("R{n}"), 1, "2026-11-28T09:00:00Z"))
        .collect();
    accept_and_process(&store, &jobs).await;
    let device = |n: usize| estate.devices[n].device_id.clone();
    for n in 0..3 {
        assert_eq!(rows_of(&pool, &device(n)).await, (1, 1));
    }

    // A removed device takes its rows; the others keep theirs.
    sqlx::query("DELETE FROM device_masters WHERE device_id = $1")
        .bind(device(0))
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(rows_of(&pool, &device(0)).await, (0, 0));
    assert_eq!(rows_of(&pool, &device(1)).await, (1, 1));

    // A renamed device id follows into its rows.
    sqlx::query("UPDATE device_masters SET device_id = 'CAM_RENAMED' WHERE device_id = $1")
        .bind(device(1))
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(rows_of(&pool, &device(1)).await, (0, 0));
    assert_eq!(rows_of(&pool, "CAM_RENAMED").await, (1, 1));

    // A branch that detections name keeps its id (its camera moved away first, so only
    // the detections and events hold on to it).
    sqlx::query("UPDATE device_masters SET branch_id = $1 WHERE device_id = $2")
        .bind(estate.branches[0].id)
        .bind(device(2))
        .execute(&pool)
        .await
        .unwrap();
    let renumbered = sqlx::query("UPDATE company_branches SET id = 9999 WHERE id = $1")
        .bind(estate.branches[2].id)
        .execute(&pool)
        .await;
    assert!(
        renumbered.is_err(),
        "a branch with detections changed its id"
    );

    // A removed branch takes its rows.
    sqlx::query("DELETE FROM company_branches WHERE id = $1")
        .bind(estate.branches[2].id)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(rows_of(&pool, &device(2)).await, (0, 0));
    assert_eq!(rows_of(&pool, "CAM_RENAMED").await, (1, 1));
}
