//! What this crate's integration tests share: a test database, a real camera image, and
//! waiting for the pipeline. Each test binary uses a part of it.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use cctv_storage_sqlite::{SqliteSettings, SqliteStore};

/// A SQLite store in `dir` (`cctv.db`), without fsync: tests need no power-loss safety.
pub async fn open_sqlite(dir: &Path) -> SqliteStore {
    let mut settings = SqliteSettings::new(dir.join("cctv.db"));
    settings.fsync_every_commit = false;
    SqliteStore::open(&settings).await.unwrap()
}

/// A 640×480 JPEG, as a camera's snapshot.
pub fn jpeg() -> Vec<u8> {
    let img = image::RgbImage::from_fn(640, 480, |x, y| image::Rgb([x as u8, y as u8, 40]));
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
        .encode_image(&img)
        .unwrap();
    out
}

/// Polls `check` every 20 ms until it holds; fails the test naming `what` after `within`.
pub async fn wait_for(what: &str, within: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
