//! `cctv access-log aggregate --date D` and `cctv files cleanup`: the daily file and log
//! jobs, by hand (the scheduler runs the same functions).

use std::time::Duration;

use anyhow::Context;
use cctv_admin::files::CleanupSettings;
use cctv_core::Core;

use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct AggregateArgs {
    /// The day (YYYY-MM-DD, in the configured timezone) whose log is folded.
    #[arg(long)]
    pub date: jiff::civil::Date,
}

/// Rebuilds `api_usage_summary` for the day from `<log dir>/api_requests/[NODE/]DATE.log`.
pub async fn aggregate(settings: &Settings, core: Core, args: AggregateArgs) -> anyhow::Result<()> {
    let logs = settings.logs_dir();
    let report = cctv_admin::api_log::aggregate_day(core.storage().as_ref(), &logs, args.date)
        .await
        .context("aggregating the API access log")?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// The cleanup settings from `[storage]`.
pub fn cleanup_settings(settings: &Settings) -> CleanupSettings {
    CleanupSettings {
        retention: Duration::from_secs(settings.storage.retention_days.max(1) * 24 * 3600),
        logs_dir: Some(settings.logs_dir()),
        ..CleanupSettings::default()
    }
}

/// Deletes files, registry rows and logs older than `storage.retention_days`.
pub async fn cleanup(settings: &Settings, core: Core) -> anyhow::Result<()> {
    let report =
        cctv_admin::files::cleanup(&core, &cleanup_settings(settings), jiff::Timestamp::now())
            .await
            .context("cleaning up files")?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
