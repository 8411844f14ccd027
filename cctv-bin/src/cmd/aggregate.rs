//! `cctv aggregate --date D`: folds the message log of one day into
//! `whatsapp_delivery_summary`, replacing that day's rows. The same function
//! (`cctv_admin::notify::summary::aggregate_day`) is what a scheduler runs at 01:30.

use anyhow::Context;
use cctv_admin::notify::summary::aggregate_day;
use jiff::civil::Date;

use crate::app;
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The day (YYYY-MM-DD, in the configured timezone); default: yesterday.
    #[arg(long)]
    pub date: Option<Date>,
}

pub async fn run(settings: &Settings, args: Args) -> anyhow::Result<()> {
    let date = match args.date {
        Some(d) => d,
        None => jiff::Timestamp::now()
            .to_zoned_datetime(settings.timezone())
            .date()
            .yesterday()
            .context("no day before this one")?,
    };
    let store = app::open_store(settings, false).await?;
    let dir = settings.notifications.log_dir(&settings.logs_dir());
    let report = aggregate_day(store.storage.as_ref(), &dir, date)
        .await
        .with_context(|| format!("aggregating {date}"))?;
    if !report.file_found {
        println!(
            "no message log for {date} in {}; nothing changed",
            dir.display()
        );
        return Ok(());
    }
    println!(
        "{date}: {} lines ({} unreadable) folded into {} summary row(s)",
        report.lines,
        report.skipped,
        report.rows.len()
    );
    Ok(())
}
