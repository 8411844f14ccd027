//! `cctv import laravel`: brings a running installation of the original (Laravel) system
//! over, so no device is re-enrolled and no history is lost.
//!
//! Order: groups → branches → devices → streams → users → layouts → event and WhatsApp
//! settings → API credentials → detections (through the ordinary intake and processing,
//! so person-days, branch counts, day totals, visits and event logs are built by the same
//! rules as live ones) → person-day names and statuses → reports. Natural keys (province
//! code, branch code, device id, e-mail, API key, layout name, …) decide what exists, and
//! history continues after the last source id imported ([`marks`]), so a rerun imports
//! only what is new. The source is opened read-only.

mod convert;
mod crypt;
mod estate;
mod history;
mod marks;
mod source;
mod summary;

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use anyhow::Context;
use cctv_admin::AdminCore;
use cctv_admin::access::SecretBox;
use cctv_core::Core;
use cctv_core::records::{Filter, Record, Table, WriteOp};
use cctv_core::storage::Storage;
use clap::Args;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};

use crypt::Keys;
use summary::Summary;

#[derive(Debug, Args)]
pub struct LaravelArgs {
    /// The original system's PostgreSQL database (read only).
    #[arg(long)]
    pub database_url: String,
    /// The original's APP_KEY (`base64:…`): decrypts what Laravel `Crypt` encrypted.
    /// Prefer the environment variable CCTV_IMPORT_APP_KEY: arguments show in `ps`.
    #[arg(long)]
    pub app_key: Option<String>,
    /// The original's ENCRYPT_CREDENTIAL_KEY, when it was set (or the environment
    /// variable CCTV_IMPORT_CREDENTIAL_KEY).
    #[arg(long)]
    pub credential_key: Option<String>,
    /// Print what would be imported and every row that would be refused; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Import history (detections, person-days, event logs) from this local date on.
    #[arg(long)]
    pub since: Option<Date>,
    /// IANA timezone the original ran in (its timestamps carry none); default: ours.
    #[arg(long)]
    pub timezone: Option<String>,
    /// Detections per transaction.
    #[arg(long, default_value_t = 2000)]
    pub batch: usize,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Source ids mapped to ours (in a dry run, rows that would be created get negative ids).
#[derive(Debug, Default)]
struct Ids {
    groups: HashMap<i64, i64>,
    branches: HashMap<i64, i64>,
    users: HashMap<i64, i64>,
    /// `device_masters.id` → `device_id`.
    devices: HashMap<i64, String>,
    device_ids: HashSet<String>,
}

impl Ids {
    fn add_device(&mut self, source_id: i64, device_id: String) {
        self.device_ids.insert(device_id.clone());
        self.devices.insert(source_id, device_id);
    }

    fn has_device(&self, device_id: &str) -> bool {
        self.device_ids.contains(device_id)
    }
}

/// One run of the import.
pub(crate) struct Import<'a> {
    source: PgPool,
    /// `host:port/database` of the source: the key of its import marks.
    source_name: String,
    core: &'a Core,
    storage: &'a dyn Storage,
    keys: &'a Keys,
    secrets: &'a SecretBox,
    source_tz: &'a TimeZone,
    dry_run: bool,
    since: Option<Date>,
    batch: usize,
    summary: Summary,
    ids: Ids,
    next_placeholder: i64,
}

impl Import<'_> {
    async fn read(&self, sql: &str) -> anyhow::Result<Vec<PgRow>> {
        sqlx::query(sql)
            .fetch_all(&self.source)
            .await
            .with_context(|| {
                format!(
                    "reading the source: {}",
                    sql.split_whitespace().take(8).collect::<Vec<_>>().join(" ")
                )
            })
    }

    /// The id of the row `key` selects, inserting `fields` when there is none. A row the
    /// store refuses is listed, not fatal.
    async fn ensure(
        &mut self,
        table: &'static Table,
        key: Vec<Filter>,
        fields: Record,
        label: &str,
    ) -> Option<i64> {
        match self.storage.find_record(table, &key).await {
            Ok(Some(existing)) => {
                self.summary.skipped(table.name, 1);
                existing.get("id").and_then(serde_json::Value::as_i64)
            }
            Ok(None) if self.dry_run => {
                self.summary.imported(table.name, 1);
                self.next_placeholder -= 1;
                Some(self.next_placeholder)
            }
            Ok(None) => {
                let op = WriteOp::Insert {
                    table,
                    record: fields,
                    link: None,
                };
                match self.storage.apply(&[op]).await {
                    Ok(ids) => {
                        self.summary.imported(table.name, 1);
                        ids.first().copied()
                    }
                    Err(e) => {
                        self.summary.refuse(table.name, label, e.to_string());
                        None
                    }
                }
            }
            Err(e) => {
                self.summary.refuse(table.name, label, e.to_string());
                None
            }
        }
    }

    /// Applies `ops` as one row of `table` (a dry run only counts it).
    async fn write(&mut self, table: &'static str, label: &str, ops: Vec<WriteOp>) {
        if self.dry_run {
            self.summary.imported(table, 1);
            return;
        }
        match self.storage.apply(&ops).await {
            Ok(_) => self.summary.imported(table, 1),
            Err(e) => self.summary.refuse(table, label, e.to_string()),
        }
    }
}

/// `host:port/database`, never the password.
fn source_name(options: &PgConnectOptions) -> String {
    format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("")
    )
}

pub async fn laravel(core: Core, args: LaravelArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.batch > 0 && args.batch <= 10_000,
        "--batch must be 1 to 10000"
    );
    let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let app_key = args
        .app_key
        .clone()
        .or_else(|| from_env("CCTV_IMPORT_APP_KEY"));
    let credential_key =
        (args.credential_key.clone()).or_else(|| from_env("CCTV_IMPORT_CREDENTIAL_KEY"));
    let keys = Keys::new(app_key.as_deref(), credential_key.as_deref())?;
    let source_tz = match &args.timezone {
        Some(name) => TimeZone::get(name).with_context(|| format!("--timezone {name}"))?,
        None => core.timezone().clone(),
    };
    let options = PgConnectOptions::from_str(&args.database_url)
        .context("--database-url is not a PostgreSQL URL")?
        .options([("default_transaction_read_only", "on")])
        .disable_statement_logging();
    let source = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options.clone())
        .await
        .context("connecting to the original database")?;
    let storage = core.storage().clone();
    let mut import = Import {
        source,
        source_name: source_name(&options),
        core: &core,
        storage: storage.as_ref(),
        keys: &keys,
        secrets: core.secrets(),
        source_tz: &source_tz,
        dry_run: args.dry_run,
        since: args.since,
        batch: args.batch,
        summary: Summary::new(args.dry_run),
        ids: Ids::default(),
        next_placeholder: 0,
    };
    import.groups().await?;
    import.branches().await?;
    import.devices().await?;
    import.streams().await?;
    import.users().await?;
    import.layouts().await?;
    import.event_settings().await?;
    import.whatsapp_settings().await?;
    import.credentials().await?;
    import.detections().await?;
    import.person_days().await?;
    import.event_logs().await?;
    import.reports().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&import.summary)?);
    } else {
        print!("{}", import.summary.render());
    }
    Ok(())
}
