//! `cctv bench`: the ingest load generator and the trivial baseline server.
//! `benches/run.sh` drives both against `cctv serve` and prints the figures for BENCHMARKS.md.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use cctv_bench::loadgen::{self, LoadConfig};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Post detections at a server, then wait until it has processed them.
    Ingest(IngestArgs),
    /// Serve a trivial salvo handler (202 + small JSON) to measure the bare HTTP stack.
    BaselineServer {
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
    },
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
    #[arg(long)]
    pub api_secret: Option<String>,
    /// Target requests per second over all connections (default: as fast as answered).
    #[arg(long)]
    pub rate: Option<u64>,
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// Distinct persons (re-ids) in the generated traffic.
    #[arg(long, default_value_t = 50_000)]
    pub persons: u64,
    /// Do not wait for processing (for the baseline server, which processes nothing).
    #[arg(long)]
    pub no_drain: bool,
    /// Seconds to wait for processing after the load.
    #[arg(long, default_value_t = 600)]
    pub drain_timeout: u64,
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
    }
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
        persons: args.persons,
        progress: !args.json,
    };
    if !args.json {
        eprintln!(
            "load: {} connections, rate {}, {} s, {} persons, {} devices",
            cfg.concurrency,
            cfg.rate
                .map_or("unlimited".to_owned(), |r| format!("{r}/s")),
            args.duration,
            cfg.persons,
            cfg.pairs.len()
        );
    }
    let started = Instant::now();
    let report = loadgen::run(cfg.clone()).await?;
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
        "duration_s": report.elapsed.as_secs_f64(),
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
