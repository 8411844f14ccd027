//! The load generator.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use tokio::net::TcpStream;

use crate::stats::Latencies;

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
    /// Stop after sending this many requests (before `duration` if it comes first).
    pub total: Option<u64>,
    /// Distinct re-ids to draw from (repeat visitors across branches).
    pub persons: u64,
    /// Spread `detected_at` uniformly over this many past days (0: the device sends none,
    /// so the time of receipt counts), to build a history of several days.
    pub spread_days: u32,
    /// Print one progress line per second to stderr.
    pub progress: bool,
}

/// What happened.
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub sent: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub transport_errors: u64,
    pub elapsed: Duration,
    pub latencies: Latencies,
    /// Job ids to poll for completion: the last accepted one of each connection and a sample.
    pub job_samples: Vec<String>,
    /// Status codes other than 202, with counts.
    pub other_statuses: Vec<(u16, u64)>,
}

impl LoadReport {
    pub fn accepted_per_sec(&self) -> f64 {
        self.accepted as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A small xorshift generator: deterministic per connection, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn detection_body(rng: &mut Rng, cfg: &LoadConfig) -> String {
    let (branch, device) = &cfg.pairs[rng.below(cfg.pairs.len() as u64) as usize];
    let person = rng.below(cfg.persons);
    let confidence = 0.85 + rng.below(1400) as f64 / 10_000.0;
    let detected_at = if cfg.spread_days == 0 {
        String::new()
    } else {
        let back = rng.below(u64::from(cfg.spread_days) * 86_400) as i64;
        let at = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(back);
        format!(r#""detected_at":"{at}","#)
    };
    format!(
        r#"{{{detected_at}"re_id":"REID_BENCH_{person:08}","branch_id":{branch},"device_id":"{device}","detection_data":{{"confidence":{confidence:.4},"frame":{},"detection_type":"person","bounding_box":{{"x":{},"y":{},"width":{},"height":{}}}}}}}"#,
        1000 + rng.below(9000),
        50 + rng.below(200),
        50 + rng.below(200),
        50 + rng.below(100),
        50 + rng.below(100)
    )
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: &str) -> anyhow::Result<Sender> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

fn job_id_of(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("\"job_id\":\"")? + 10;
    let end = text[start..].find('"')? + start;
    Some(text[start..end].to_owned())
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    accepted: AtomicU64,
    rejected: AtomicU64,
    errors: AtomicU64,
}

struct ConnResult {
    latencies: Vec<u32>,
    samples: Vec<String>,
    statuses: std::collections::HashMap<u16, u64>,
}

async fn connection(
    id: usize,
    cfg: Arc<LoadConfig>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
) -> ConnResult {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((id as u64 + 1) * 0x2545_F491_4F6C_DD1D));
    let mut out = ConnResult {
        latencies: Vec::new(),
        samples: Vec::new(),
        statuses: Default::default(),
    };
    let mut last_job = None;
    let mut sender = None;
    // Paced connections start at evenly spread phases: started together, they would send
    // in bursts of `concurrency` requests and measure queueing behind their own burst.
    let mut pace = cfg.rate.map(|rate| {
        let per_conn = (rate as f64 / cfg.concurrency as f64).max(0.001);
        let period = Duration::from_secs_f64(1.0 / per_conn);
        let phase = period.mul_f64(id as f64 / cfg.concurrency as f64);
        let mut i = tokio::time::interval_at(tokio::time::Instant::now() + phase, period);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    });
    while !stop.load(Ordering::Relaxed) {
        if let Some(p) = pace.as_mut() {
            p.tick().await;
        }
        if sender.is_none() {
            match connect(&cfg.addr).await {
                Ok(s) => sender = Some(s),
                Err(_) => {
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            }
        }
        let s = sender.as_mut().expect("connected above");
        let body = detection_body(&mut rng, &cfg);
        let req = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/detection/log")
            .header("host", cfg.addr.as_str())
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .header("x-api-key", cfg.api_key.as_str())
            .header("x-api-secret", cfg.api_secret.as_str())
            .body(Full::new(Bytes::from(body)))
            .expect("valid request");
        let started = Instant::now();
        let n = counters.sent.fetch_add(1, Ordering::Relaxed);
        if cfg.total.is_some_and(|t| n >= t) {
            counters.sent.fetch_sub(1, Ordering::Relaxed);
            stop.store(true, Ordering::Relaxed);
            break;
        }
        let outcome = async {
            s.ready().await?;
            let resp = s.send_request(req).await?;
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, body))
        }
        .await;
        match outcome {
            Ok((status, body)) => {
                out.latencies
                    .push(started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                if status == 202 {
                    let n = counters.accepted.fetch_add(1, Ordering::Relaxed);
                    let job = job_id_of(&body);
                    if n.is_multiple_of(1000) {
                        out.samples.extend(job.clone());
                    }
                    last_job = job.or(last_job);
                } else {
                    counters.rejected.fetch_add(1, Ordering::Relaxed);
                    *out.statuses.entry(status).or_default() += 1;
                }
            }
            Err(_) => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                sender = None;
            }
        }
    }
    out.samples.extend(last_job);
    out
}

/// Runs the load for `cfg.duration`.
pub async fn run(cfg: LoadConfig) -> anyhow::Result<LoadReport> {
    anyhow::ensure!(
        !cfg.pairs.is_empty(),
        "no (branch, device) pairs to post for"
    );
    anyhow::ensure!(cfg.concurrency > 0, "concurrency must be positive");
    let cfg = Arc::new(cfg);
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..cfg.concurrency)
        .map(|i| tokio::spawn(connection(i, cfg.clone(), counters.clone(), stop.clone())))
        .collect();
    let mut last = 0;
    while started.elapsed() < cfg.duration && !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(
            Duration::from_secs(1).min(cfg.duration.saturating_sub(started.elapsed())),
        )
        .await;
        if cfg.progress {
            let accepted = counters.accepted.load(Ordering::Relaxed);
            eprintln!(
                "  t={:>4.0}s accepted={accepted:>9} (+{:>6}/s) rejected={} errors={}",
                started.elapsed().as_secs_f64(),
                accepted - last,
                counters.rejected.load(Ordering::Relaxed),
                counters.errors.load(Ordering::Relaxed)
            );
            last = accepted;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut samples = Vec::new();
    let mut statuses = std::collections::HashMap::new();
    for t in tasks {
        let r = t.await?;
        latencies.extend(r.latencies);
        samples.extend(r.samples);
        for (k, v) in r.statuses {
            *statuses.entry(k).or_insert(0) += v;
        }
    }
    let elapsed = started.elapsed();
    Ok(LoadReport {
        sent: counters.sent.load(Ordering::Relaxed),
        accepted: counters.accepted.load(Ordering::Relaxed),
        rejected: counters.rejected.load(Ordering::Relaxed),
        transport_errors: counters.errors.load(Ordering::Relaxed),
        elapsed,
        latencies: Latencies::new(latencies),
        job_samples: samples,
        other_statuses: statuses.into_iter().collect(),
    })
}

/// Polls the status endpoint until every sampled job is completed (or failed); returns
/// how long that took after `since`.
pub async fn wait_until_processed(
    cfg: &LoadConfig,
    samples: &[String],
    since: Instant,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let mut sender = connect(&cfg.addr).await?;
    let deadline = Instant::now() + timeout;
    let mut pending: Vec<&String> = samples.iter().collect();
    while !pending.is_empty() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{} sampled jobs still not processed after {timeout:?}",
            pending.len()
        );
        let mut still = Vec::new();
        for job in pending {
            let req = Request::builder()
                .method(Method::GET)
                .uri(format!("/api/v1/detection/status/{job}"))
                .header("host", cfg.addr.as_str())
                .header("x-api-key", cfg.api_key.as_str())
                .header("x-api-secret", cfg.api_secret.as_str())
                .body(Full::new(Bytes::new()))?;
            sender.ready().await?;
            let body = sender
                .send_request(req)
                .await?
                .into_body()
                .collect()
                .await?
                .to_bytes();
            let text = String::from_utf8_lossy(&body);
            if !(text.contains("\"status\":\"completed\"")
                || text.contains("\"status\":\"failed\""))
            {
                still.push(job);
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(since.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_valid_detections_and_job_ids_are_found() {
        let cfg = LoadConfig {
            addr: "x".into(),
            api_key: "k".into(),
            api_secret: "s".into(),
            pairs: vec![(1, "CAM_JKT001_001".into())],
            rate: None,
            concurrency: 1,
            duration: Duration::ZERO,
            total: None,
            persons: 10,
            spread_days: 0,
            progress: false,
        };
        let body: serde_json::Value =
            serde_json::from_str(&detection_body(&mut Rng(42), &cfg)).unwrap();
        assert_eq!(body["branch_id"], 1);
        assert!(body["re_id"].as_str().unwrap().starts_with("REID_BENCH_"));
        let c = body["detection_data"]["confidence"].as_f64().unwrap();
        assert!((0.85..=0.99).contains(&c));
        assert_eq!(
            job_id_of(br#"{"data":{"job_id":"abc-1","status":"queued"}}"#).as_deref(),
            Some("abc-1")
        );
    }
}
