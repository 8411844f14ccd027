//! The load generator.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use tokio::net::TcpStream;

use crate::body::{Rng, accepted_jobs_of, batch_body, detection_body, job_id_of};
pub use crate::load_config::{LoadConfig, OnTick, Tick};
use crate::stats::Latencies;

/// What happened. Counts are of detections (a batch request carries many); latencies
/// and statuses are per request.
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub requests: u64,
    pub sent: u64,
    pub accepted: u64,
    /// Detections not accepted: rejected items, and every item of a request that was not
    /// answered 202.
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

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
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
        let per_request = cfg.batch.unwrap_or(1).max(1) as u64;
        let n = counters.sent.fetch_add(per_request, Ordering::Relaxed);
        let items = match cfg.total {
            Some(t) if n >= t => {
                counters.sent.fetch_sub(per_request, Ordering::Relaxed);
                stop.store(true, Ordering::Relaxed);
                break;
            }
            // The last request carries only what is left of the total.
            Some(t) if n + per_request > t => {
                counters
                    .sent
                    .fetch_sub(n + per_request - t, Ordering::Relaxed);
                t - n
            }
            _ => per_request,
        };
        let (uri, body) = match cfg.batch {
            Some(_) => (
                "/api/v1/detection/batch",
                batch_body(&mut rng, &cfg, items as usize),
            ),
            None => ("/api/v1/detection/log", detection_body(&mut rng, &cfg)),
        };
        let req = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header("host", cfg.addr.as_str())
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .header("x-api-key", cfg.api_key.as_str())
            .header("x-api-secret", cfg.api_secret.as_str())
            .body(Full::new(Bytes::from(body)))
            .expect("valid request");
        let started = Instant::now();
        counters.requests.fetch_add(1, Ordering::Relaxed);
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
                    let jobs = match cfg.batch {
                        Some(_) => accepted_jobs_of(&body),
                        None => job_id_of(&body).into_iter().collect(),
                    };
                    let first = counters
                        .accepted
                        .fetch_add(jobs.len() as u64, Ordering::Relaxed);
                    counters
                        .rejected
                        .fetch_add(items.saturating_sub(jobs.len() as u64), Ordering::Relaxed);
                    // Every 1,000th accepted detection is sampled for the drain check.
                    for (i, job) in jobs.iter().enumerate() {
                        if (first + i as u64).is_multiple_of(1000) {
                            out.samples.push(job.clone());
                        }
                    }
                    last_job = jobs.last().cloned().or(last_job);
                } else {
                    counters.rejected.fetch_add(items, Ordering::Relaxed);
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
    while started.elapsed() < cfg.duration && !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(
            Duration::from_secs(1).min(cfg.duration.saturating_sub(started.elapsed())),
        )
        .await;
        if let Some(OnTick(report)) = &cfg.progress {
            report(Tick {
                elapsed: started.elapsed(),
                accepted: counters.accepted.load(Ordering::Relaxed),
                rejected: counters.rejected.load(Ordering::Relaxed),
                errors: counters.errors.load(Ordering::Relaxed),
            });
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
        requests: counters.requests.load(Ordering::Relaxed),
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

/// Waits until the server accepts the credential (a server started a moment ago may not
/// know a credential created just before): load against a 401 would measure refusals.
/// Fails after `timeout` with the last status.
pub async fn wait_for_credential(cfg: &LoadConfig, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let status = match connect(&cfg.addr).await {
            Ok(mut sender) => {
                let req = Request::builder()
                    .method(Method::GET)
                    .uri("/api/v1/detections?per_page=1")
                    .header("host", cfg.addr.as_str())
                    .header("x-api-key", cfg.api_key.as_str())
                    .header("x-api-secret", cfg.api_secret.as_str())
                    .body(Full::new(Bytes::new()))?;
                sender.ready().await?;
                Some(sender.send_request(req).await?.status().as_u16())
            }
            Err(_) => None,
        };
        if status == Some(200) {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the server did not accept the credential within {timeout:?} (last answer: {})",
            status.map_or("no connection".to_owned(), |s| s.to_string())
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
