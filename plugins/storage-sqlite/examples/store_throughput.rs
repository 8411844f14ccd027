//! Storage-only throughput: accept and process batches of detections on a fresh SQLite
//! file, without HTTP or actors. `cargo run --release -p cctv-storage-sqlite --example store_throughput`

use std::time::Instant;

use cctv_core::person_day::PreparedDetection;
use cctv_core::storage::{AcceptItem, IngestStore};
use cctv_storage_sqlite::{SqliteSettings, SqliteStore};
use cctv_testkit::{job, seed};

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = SqliteSettings::new(dir.path().join("cctv.db"));
    settings.fsync_every_commit = std::env::var("FSYNC").is_ok();
    let store = SqliteStore::open(&settings).await.unwrap();
    let estate = seed(&store).await;
    let batch: usize = std::env::var("BATCH")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(500);
    let rounds = 40;
    let (mut accept, mut process) = (0f64, 0f64);
    for r in 0..rounds {
        let jobs: Vec<_> = (0..batch)
            .map(|i| {
                job(
                    &estate,
                    i % 3,
                    &format!("P{}", (r * batch + i) * 7919 % 50_000),
                    1,
                    "2026-11-28T08:00:00Z",
                )
            })
            .collect();
        let items: Vec<AcceptItem> = jobs
            .iter()
            .map(|j| AcceptItem {
                job: j.clone(),
                lease: None,
            })
            .collect();
        let t = Instant::now();
        store
            .accept_detections(&items, jiff::Timestamp::now())
            .await
            .unwrap();
        accept += t.elapsed().as_secs_f64();
        let prepared: Vec<_> = jobs
            .into_iter()
            .map(|j| PreparedDetection::new(j, &jiff::tz::TimeZone::UTC))
            .collect();
        let t = Instant::now();
        store
            .process_detections(&prepared, jiff::Timestamp::now())
            .await
            .unwrap();
        process += t.elapsed().as_secs_f64();
    }
    let n = (rounds * batch) as f64;
    println!(
        "batch {batch}: accept {:.1} µs/detection, process {:.1} µs/detection",
        accept / n * 1e6,
        process / n * 1e6
    );
}
