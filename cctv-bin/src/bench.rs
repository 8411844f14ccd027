//! `cctv bench`: the ingest load generator and the trivial baseline server.
//! `benches/run.sh` drives both against `cctv serve` and prints the figures for BENCHMARKS.md.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use cctv_bench::loadgen::{self, LoadConfig};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::progress::Progress;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Post detections at a server, then wait until it has processed them.
    Ingest(IngestArgs),
    /// Log in to the web pages and time each main page (BENCHMARKS.md: page times).
    Pages(PagesArgs),
    /// Hold a dashboard WebSocket open and count the live events it hears.
    Listen(ListenArgs),
    /// Serve a trivial salvo handler (202 + small JSON) to measure the bare HTTP stack.
    BaselineServer {
        /// host:port to listen on.
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
    },
}

/// Where to log in, and as whom (the benchmarks that act as a person).
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// host:port of the server.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// The e-mail of the user to log in as.
    #[arg(long)]
    pub email: String,
    /// The password is read from this environment variable (never a command-line argument).
    #[arg(long, default_value = "CCTV_BENCH_PASSWORD")]
    pub password_env: String,
}

impl LoginArgs {
    /// The password from its environment variable.
    fn password(&self) -> anyhow::Result<String> {
        std::env::var(&self.password_env)
            .with_context(|| format!("set the password in ${}", self.password_env))
    }
}

#[derive(Debug, Args)]
pub struct PagesArgs {
    #[command(flatten)]
    pub login: LoginArgs,
    /// Timed requests per page.
    #[arg(long, default_value_t = 20)]
    pub rounds: usize,
    /// Print the timings as one JSON document.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListenArgs {
    #[command(flatten)]
    pub login: LoginArgs,
    /// Event types to subscribe to and count.
    #[arg(long, default_value = "detection_update", value_delimiter = ',')]
    pub topics: Vec<String>,
    /// Stop after this many seconds at most.
    #[arg(long, default_value_t = 600)]
    pub max_secs: u64,
    /// Stop once no event came for this many seconds (after the first one).
    #[arg(long, default_value_t = 15)]
    pub idle_secs: u64,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// host:port of the server.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// Output of `cctv demo --json`: branches, devices and a credential.
    #[arg(long)]
    pub estate: PathBuf,
    /// Use this key instead of the estate file's credential.
    #[arg(long)]
    pub api_key: Option<String>,
    /// Use this secret instead of the estate file's credential.
    #[arg(long)]
    pub api_secret: Option<String>,
    /// Target requests per second over all connections (default: as fast as answered).
    #[arg(long)]
    pub rate: Option<u64>,
    /// Post N detections per request to /api/v1/detection/batch instead of one per
    /// request to /api/v1/detection/log; the figures count detections either way.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub batch: Option<u64>,
    /// Keep-alive connections posting at the same time.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// Stop after this many detections (e.g. to seed a history of a given size).
    #[arg(long)]
    pub total: Option<u64>,
    /// Send `detected_at` spread over this many past days (default: none, time of receipt).
    #[arg(long, default_value_t = 0)]
    pub spread_days: u32,
    /// Distinct persons (re-ids) in the generated traffic.
    #[arg(long, default_value_t = 50_000)]
    pub persons: u64,
    /// With --spread-days: draw detections from this many visits (a person at a branch on
    /// a day, several detections within up to an hour); 0: every detection independent.
    #[arg(long, default_value_t = 0)]
    pub visits: u64,
    /// Do not wait for processing (for the baseline server, which processes nothing).
    #[arg(long)]
    pub no_drain: bool,
    /// Seconds to wait for processing after the load.
    #[arg(long, default_value_t = 600)]
    pub drain_timeout: u64,
    /// Seconds to wait, before the load, until the server accepts the credential.
    #[arg(long, default_value_t = 30)]
    pub credential_wait: u64,
    /// Print the report as one JSON line.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::BaselineServer { listen } => {
            let listener = tokio::net::TcpListener::bind(listen).await?;
            println!("baseline server on http://{}", listener.local_addr()?);
            cctv_bench::baseline::serve(listener).await?;
            Ok(())
        }
        BenchCommand::Ingest(args) => ingest(args).await,
        BenchCommand::Pages(args) => pages(args).await,
        BenchCommand::Listen(args) => listen(args).await,
    }
}

/// Prints one JSON line: the events heard by type, and over how long.
async fn listen(args: ListenArgs) -> anyhow::Result<()> {
    let login = &args.login;
    let token =
        cctv_bench::listen::api_login(&login.addr, &login.email, &login.password()?).await?;
    let report = cctv_bench::listen::count_events(
        &login.addr,
        &token,
        &args.topics,
        Duration::from_secs(args.max_secs),
        Duration::from_secs(args.idle_secs),
    )
    .await?;
    println!(
        "{}",
        json!({
            "addr": login.addr,
            "events": report.by_type,
            "span_secs": report.span.as_secs_f64(),
        })
    );
    Ok(())
}

async fn ingest(args: IngestArgs) -> anyhow::Result<()> {
    let estate: Value = serde_json::from_str(
        &std::fs::read_to_string(&args.estate)
            .with_context(|| format!("reading {}", args.estate.display()))?,
    )
    .context("the estate file must be the output of `cctv demo --json`")?;
    let pairs: Vec<(i64, String)> = estate["devices"]
        .as_array()
        .context("estate.devices")?
        .iter()
        .filter_map(|d| {
            Some((
                d["branch_id"].as_i64()?,
                d["device_id"].as_str()?.to_owned(),
            ))
        })
        .collect();
    let progress = Arc::new(if args.json {
        Progress::hidden()
    } else {
        Progress::new("load", args.total, "detections")
    });
    let cfg = LoadConfig {
        addr: args.addr.clone(),
        api_key: args
            .api_key
            .clone()
            .or_else(|| estate["credential"]["api_key"].as_str().map(str::to_owned))
            .context("api key")?,
        api_secret: args
            .api_secret
            .clone()
            .or_else(|| {
                estate["credential"]["api_secret"]
                    .as_str()
                    .map(str::to_owned)
            })
            .context("api secret")?,
        pairs,
        rate: args.rate,
        concurrency: args.concurrency,
        duration: Duration::from_secs(args.duration),
        total: args.total,
        spread_days: args.spread_days,
        persons: args.persons,
        visits: args.visits,
        batch: args.batch.map(|n| n as usize),
        progress: Some(loadgen::OnTick(Arc::new({
            let (progress, duration) = (progress.clone(), args.duration);
            let shown = AtomicU64::new(0);
            move |tick: loadgen::Tick| {
                let before = shown.swap(tick.accepted, Ordering::Relaxed);
                progress.inc(tick.accepted.saturating_sub(before));
                progress.message(format!(
                    "{:.0}/{duration} s, rejected {}, errors {}",
                    tick.elapsed.as_secs_f64(),
                    tick.rejected,
                    tick.errors
                ));
            }
        }))),
    };
    if !args.json {
        eprintln!(
            "load: {} connections, rate {}, {} s, {} persons, {} devices, {}",
            cfg.concurrency,
            cfg.rate
                .map_or("unlimited".to_owned(), |r| format!("{r} requests/s")),
            args.duration,
            cfg.persons,
            cfg.pairs.len(),
            cfg.batch
                .map_or("one detection per request".to_owned(), |n| {
                    format!("batches of {n}")
                })
        );
    }
    // The baseline server (`--no-drain`) has no credentials and answers only POST.
    if !args.no_drain {
        loadgen::wait_for_credential(&cfg, Duration::from_secs(args.credential_wait)).await?;
    }
    let started = Instant::now();
    let report = loadgen::run(cfg.clone()).await?;
    progress.finish();
    let end_to_end = if args.no_drain || report.accepted == 0 {
        None
    } else {
        if !args.json {
            eprintln!(
                "load done; waiting until the server has processed the {} accepted detections…",
                report.accepted
            );
        }
        Some(
            loadgen::wait_until_processed(
                &cfg,
                &report.job_samples,
                started,
                Duration::from_secs(args.drain_timeout),
            )
            .await?,
        )
    };
    let ms = |d: Duration| (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
    let out = json!({
        "addr": args.addr,
        "concurrency": args.concurrency,
        "target_rate": args.rate,
        "batch": args.batch,
        "duration_s": report.elapsed.as_secs_f64(),
        "requests": report.requests,
        "sent": report.sent,
        "accepted": report.accepted,
        "rejected": report.rejected,
        "transport_errors": report.transport_errors,
        "other_statuses": report.other_statuses,
        "accepted_per_s": (report.accepted_per_sec() * 10.0).round() / 10.0,
        "end_to_end_s": end_to_end.map(|d| d.as_secs_f64()),
        "processed_per_s": end_to_end.map(|d| (report.accepted as f64 / d.as_secs_f64() * 10.0).round() / 10.0),
        "latency_ms": {
            "p50": ms(report.latencies.percentile(50.0)),
            "p99": ms(report.latencies.percentile(99.0)),
            "max": ms(report.latencies.max()),
        },
    });
    if args.json {
        println!("{out}");
    } else {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(())
}

async fn pages(args: PagesArgs) -> anyhow::Result<()> {
    use cctv_bench::pages;
    let login = &args.login;
    let session = pages::login(&login.addr, &login.email, &login.password()?).await?;
    let mut paths: Vec<String> = [
        "/dashboard",
        "/persons",
        "/events",
        "/devices",
        "/branches",
        "/groups",
        "/users",
        "/audit-logs",
        "/live",
        "/streams",
        "/event-settings",
        "/whatsapp-settings",
        "/api-credentials",
        "/admin/queues",
        "/admin/schedule",
        "/reports",
        "/reports?kind=daily",
        "/reports?kind=monthly",
        "/analytics",
        "/api/v1/analytics/visits",
        "/api/v1/analytics/dwell",
        "/api/v1/analytics/flows",
        "/api/v1/analytics/frequency",
        "/api/v1/analytics/heatmap",
    ]
    .iter()
    .map(|p| (*p).to_owned())
    .collect();
    // Detail pages and filtered lists need ids from the data: take them from the lists.
    for (list, prefix) in [("/persons", "/persons/"), ("/events", "/events/")] {
        if let Some(link) = pages::links(&login.addr, &session, list, prefix)
            .await?
            .into_iter()
            .next()
        {
            paths.push(link);
        }
    }
    let branch = pages::links(&login.addr, &session, "/branches", "/branches/")
        .await?
        .into_iter()
        .find_map(|l| {
            l.trim_start_matches("/branches/")
                .split('/')
                .next()?
                .parse::<i64>()
                .ok()
        });
    if let Some(id) = branch {
        paths.push(format!("/persons?branch_id={id}"));
        paths.push(format!("/events?branch_id={id}"));
        paths.push(format!("/dashboard?branch_id={id}"));
        paths.push(format!("/reports?branch_id={id}"));
        paths.push(format!("/analytics?branch_id={id}"));
        paths.push(format!("/api/v1/analytics/visits?branch_id={id}"));
    }
    let timings = pages::time_pages(&login.addr, &session, &paths, args.rounds.max(1)).await?;
    let ms = |d: Duration| (d.as_secs_f64() * 100_000.0).round() / 100.0;
    let rows: Vec<Value> = timings
        .iter()
        .map(|t| {
            json!({
                "path": t.path,
                "first_ms": ms(t.first),
                "p50_ms": ms(t.latencies.percentile(50.0)),
                "p95_ms": ms(t.latencies.percentile(95.0)),
                "max_ms": ms(t.latencies.max()),
            })
        })
        .collect();
    if args.json {
        println!("{}", json!({ "rounds": args.rounds, "pages": rows }));
    } else {
        for r in &rows {
            println!(
                "{:<40} first {:>8} ms  p50 {:>8} ms  p95 {:>8} ms  max {:>8} ms",
                r["path"].as_str().unwrap_or(""),
                r["first_ms"],
                r["p50_ms"],
                r["p95_ms"],
                r["max_ms"]
            );
        }
    }
    Ok(())
}
