//! `cctv`: the reference binary. See `cctv --help`.

mod app;
mod bench;
mod blobs;
mod cluster;
mod cmd;
mod import;
mod memory;
mod notify;
mod progress;
mod settings;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// mimalloc instead of the system allocator: the ingest path allocates and frees many
/// small buffers across threads, where glibc malloc spent ~17 % of the server's CPU
/// (perf, 64 connections) in allocation, frees and arena consolidation.
///
/// The workspace builds it with its `override` feature, so the C code linked in (SQLite
/// above all) allocates from mimalloc too, not from glibc. SQLite's page caches and row
/// copies live on its connection threads; under glibc each of those threads kept its own
/// arena, and what one took during a burst stayed resident: a report refresh during the
/// ingest benchmark grew glibc's share of the server by ~40 MB, for good (peaks of
/// 191–221 MB against 164–178 MB without a refresh). With one allocator for both, such
/// runs peaked at 173–193 MB with SQLite's heap limit at 32 MiB, and at 146–159 MB with
/// the 16 MiB default (166 MB with 16 MiB on glibc; BENCHMARKS.md, session 18).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "cctv",
    version,
    about = "Person re-identification analytics across branches"
)]
struct Cli {
    /// A TOML file overriding config/default.toml (environment CCTV__… overrides both).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server and the pipeline (embedded SQLite unless database.url is set).
    Serve {
        /// Address to listen on, e.g. 0.0.0.0:8080 for the LAN (default: `listen` of the
        /// configuration, 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Ask a running server whether it is alive (`/livez`) or ready (`--ready`); exit 0
    /// when it answers 200, 1 otherwise (container and service health checks).
    Probe(cmd::probe::Args),
    /// Manage device API credentials.
    #[command(subcommand)]
    Credential(CredentialCommand),
    /// Manage people who log in to the API and the web pages.
    #[command(subcommand)]
    User(UserCommand),
    /// Personal access tokens: long-lived read tokens for BI tools, Grafana and scripts.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Seed a realistic demo estate; print a fresh credential and a demo admin's password.
    Demo {
        /// Print groups, branches, devices, the credential and the admin as JSON.
        #[arg(long)]
        json: bool,
        /// Print only `export CCTV_KEY=… CCTV_SECRET=…` (for `eval`); the rest goes to
        /// standard error.
        #[arg(long, conflicts_with = "json")]
        env: bool,
    },
    /// Fold a day's message log into whatsapp_delivery_summary (idempotent).
    Aggregate(cmd::aggregate::Args),
    /// The API access log.
    #[command(subcommand)]
    AccessLog(AccessLogCommand),
    /// Stored files.
    #[command(subcommand)]
    Files(FilesCommand),
    /// Generate counting reports from the database.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Bring over a running installation of another system.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Benchmarks: the ingest load generator.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

#[derive(Debug, Subcommand)]
enum CredentialCommand {
    /// Create a credential; its secret is printed once.
    Create(cmd::credential::CreateArgs),
}

#[derive(Debug, Subcommand)]
enum AccessLogCommand {
    /// Fold a day's log into api_usage_summary (idempotent: re-running replaces the day).
    Aggregate(cmd::files::AggregateArgs),
}

#[derive(Debug, Subcommand)]
enum FilesCommand {
    /// Delete files, thumbnails, registry rows and logs older than storage.retention_days.
    Cleanup,
}

#[derive(Debug, Subcommand)]
enum ReportCommand {
    /// Daily reports of one date: one branch, or overall and every active branch.
    Generate(cmd::report::GenerateArgs),
    /// Daily and monthly reports of a date range, overall and every active branch.
    Backfill(cmd::report::BackfillArgs),
    /// Write a report (daily, monthly, dashboard) or rows (persons, events, detections) as
    /// CSV or XLSX; rows are streamed, so exports of any size run in bounded memory.
    Export(cmd::report::ExportArgs),
}

#[derive(Debug, Subcommand)]
enum ImportCommand {
    /// The original Laravel system: estate, users, credentials (devices keep their keys),
    /// settings and history, idempotently.
    Laravel(import::LaravelArgs),
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Issue a token with scopes and an expiry; it is printed once.
    Create(cmd::token::CreateArgs),
    /// Every personal access token, with its scopes, expiry and last use (never a secret).
    List,
    /// Revoke a token by its id.
    Revoke(cmd::token::RevokeArgs),
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user (the first admin is created this way: there is no public sign-up).
    Create(cmd::user::CreateArgs),
}

fn main() -> anyhow::Result<()> {
    memory::limit_resident_memory();
    let cli = Cli::parse();
    let mut settings = settings::Settings::load(cli.config.as_deref())?;
    // Checked when the settings were read.
    cctv_admin::phone::set_default_region(&settings.notifications.phone_region)?;
    if let Command::Probe(args) = &cli.command {
        // No tracing, no runtime, no database: a health check must be cheap.
        std::process::exit(if cmd::probe::run(settings.listen, args) {
            0
        } else {
            1
        });
    }
    let serving = matches!(cli.command, Command::Serve { .. });
    if let Command::Serve {
        listen: Some(listen),
    } = &cli.command
    {
        settings.listen = *listen;
    }
    init_tracing(&settings, serving);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve { .. } => cmd::serve::run(settings).await,
            Command::Probe(_) => unreachable!("answered before the runtime starts"),
            Command::Migrate => {
                let store = app::open_store(&settings, false).await?;
                println!("{}", store.migrations);
                Ok(())
            }
            Command::Credential(CredentialCommand::Create(args)) => {
                let store = app::open_store(&settings, false).await?;
                cmd::credential::run(store.storage.as_ref(), args).await
            }
            Command::User(UserCommand::Create(args)) => {
                let store = app::open_store(&settings, false).await?;
                let core = app::build_core(&settings, &store).await?;
                cmd::user::create(core, args).await
            }
            Command::Token(command) => {
                let store = app::open_store(&settings, false).await?;
                let core = app::build_core(&settings, &store).await?;
                match command {
                    TokenCommand::Create(args) => cmd::token::create(core, args).await,
                    TokenCommand::List => cmd::token::list(core).await,
                    TokenCommand::Revoke(args) => cmd::token::revoke(core, args).await,
                }
            }
            Command::Demo { json, env } => {
                let store = app::open_store(&settings, false).await?;
                let core = app::build_core(&settings, &store).await?;
                let output = match (json, env) {
                    (true, _) => cmd::demo::Output::Json,
                    (_, true) => cmd::demo::Output::Env,
                    _ => cmd::demo::Output::Text,
                };
                cmd::demo::run(core, settings.listen, output).await
            }
            Command::Aggregate(args) => cmd::aggregate::run(&settings, args).await,
            Command::AccessLog(AccessLogCommand::Aggregate(args)) => {
                let store = app::open_store(&settings, false).await?;
                let core = app::build_core(&settings, &store).await?;
                cmd::files::aggregate(&settings, core, args).await
            }
            Command::Files(FilesCommand::Cleanup) => {
                let store = app::open_store(&settings, false).await?;
                let core = app::build_core(&settings, &store).await?;
                cmd::files::cleanup(&settings, core).await
            }
            Command::Report(command) => {
                let store = app::open_store(&settings, false).await?;
                let core = app::build_core(&settings, &store).await?;
                match command {
                    ReportCommand::Generate(args) => cmd::report::generate(core, args).await,
                    ReportCommand::Backfill(args) => cmd::report::backfill(core, args).await,
                    ReportCommand::Export(args) => cmd::report::export(core, args).await,
                }
            }
            Command::Import(ImportCommand::Laravel(args)) => {
                let store = app::open_store(&settings, false).await?;
                let core = app::build_core(&settings, &store).await?;
                import::laravel(core, args).await
            }
            Command::Bench(command) => bench::run(command).await,
        }
    })
}

fn init_tracing(settings: &settings::Settings, serving: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("RUST_LOG").ok().unwrap_or_else(|| {
        if serving {
            settings.log.filter.clone()
        } else {
            "warn".into()
        }
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(std::io::stderr);
    if settings.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod cli_tests {
    use clap::CommandFactory;

    /// Every command and every flag says what it is for in `--help`.
    #[test]
    fn every_command_and_flag_has_help_text() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} --{id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                let here = format!("{path} {}", sub.get_name());
                if sub.get_name() != "help" && sub.get_about().is_none() {
                    missing.push(here.clone());
                }
                walk(sub, &here, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "cctv", &mut missing);
        assert!(missing.is_empty(), "without help text: {missing:#?}");
    }
}
