//! What a load run sends, where and how hard, and how it reports progress. Its own file
//! because both the request bodies (`body`) and the generator (`loadgen`) read it.

use std::sync::Arc;
use std::time::Duration;

/// What to send, where, how hard.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// `host:port` of the server.
    pub addr: String,
    pub api_key: String,
    pub api_secret: String,
    /// Valid (branch_id, device_id) pairs to post for.
    pub pairs: Vec<(i64, String)>,
    /// Target requests per second over all connections; `None`: as fast as answered.
    pub rate: Option<u64>,
    pub concurrency: usize,
    pub duration: Duration,
    /// Stop after sending this many detections (before `duration` if it comes first).
    pub total: Option<u64>,
    /// Distinct re-ids to draw from (repeat visitors across branches).
    pub persons: u64,
    /// Spread `detected_at` uniformly over this many past days (0: the device sends none,
    /// so the time of receipt counts), to build a history of several days.
    pub spread_days: u32,
    /// With `spread_days`: draw every detection from a pool of this many *visits* (a
    /// person at a branch on a day, staying up to an hour) instead of independently, so a
    /// visit gets several detections and a person several visits, as cameras see them.
    /// 0: every detection independent.
    pub visits: u64,
    /// `Some(n)`: post `n` detections per request to `/api/v1/detection/batch` instead of
    /// one per request to `/api/v1/detection/log`.
    pub batch: Option<usize>,
    /// Called about once a second while the load runs (a progress display).
    pub progress: Option<OnTick>,
}

/// The load so far, reported to [`LoadConfig::progress`].
#[derive(Debug, Clone, Copy)]
pub struct Tick {
    pub elapsed: Duration,
    pub accepted: u64,
    pub rejected: u64,
    pub errors: u64,
}

/// A progress callback.
#[derive(Clone)]
pub struct OnTick(pub Arc<dyn Fn(Tick) + Send + Sync>);

impl std::fmt::Debug for OnTick {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnTick")
    }
}
