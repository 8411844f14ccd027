//! `cctv report generate` and `cctv report backfill`: generate reports in this process,
//! straight from the database (no queue, no server needed).

use cctv_core::Core;
use cctv_core::estate::RecordStatus;
use cctv_core::reporting::{ReportKey, ReportService, Reporting};
use clap::Args;
use jiff::civil::Date;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The local date (YYYY-MM-DD) in the configured timezone.
    #[arg(long)]
    pub date: Date,
    /// Only this branch; without it: the overall report and every active branch.
    #[arg(long)]
    pub branch: Option<i64>,
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// First date (YYYY-MM-DD), included.
    #[arg(long)]
    pub from: Date,
    /// Last date (YYYY-MM-DD), included.
    #[arg(long)]
    pub to: Date,
}

/// The overall report and one per active branch.
fn scopes(core: &Core) -> Vec<Option<i64>> {
    let estate = core.estate();
    let mut ids: Vec<i64> = estate
        .branches
        .values()
        .filter(|b| b.status == RecordStatus::Active)
        .map(|b| b.id)
        .collect();
    ids.sort_unstable();
    std::iter::once(None)
        .chain(ids.into_iter().map(Some))
        .collect()
}

pub async fn generate(core: Core, args: GenerateArgs) -> anyhow::Result<()> {
    let service = ReportService::new(core.clone());
    let scopes = match args.branch {
        Some(b) => {
            anyhow::ensure!(
                core.estate().branches.contains_key(&b),
                "branch {b} does not exist"
            );
            vec![Some(b)]
        }
        None => scopes(&core),
    };
    for branch in scopes {
        let r = service
            .generate(ReportKey::daily(args.date, branch))
            .await?;
        println!(
            "{}: {} detections, {} unique persons, {} devices, {} events",
            r.key, r.total_detections, r.unique_persons, r.unique_devices, r.total_events
        );
    }
    Ok(())
}

pub async fn backfill(core: Core, args: BackfillArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.from <= args.to, "--from must not be after --to");
    let service = ReportService::new(core.clone());
    let scopes = scopes(&core);
    let dates: Vec<Date> = args
        .from
        .series(jiff::Span::new().days(1))
        .take_while(|d| *d <= args.to)
        .collect();
    let mut months: Vec<Date> = dates.iter().map(|d| d.first_of_month()).collect();
    months.dedup();
    let total = (dates.len() + months.len()) * scopes.len();
    let mut done = 0;
    let progress = |label: &str, done: usize| {
        eprint!("\r[{done}/{total}] {label}   ");
    };
    for date in &dates {
        for branch in &scopes {
            service.generate(ReportKey::daily(*date, *branch)).await?;
            done += 1;
            progress(&date.to_string(), done);
        }
    }
    for month in &months {
        for branch in &scopes {
            service
                .generate(ReportKey::monthly(*month, *branch))
                .await?;
            done += 1;
            progress(&format!("{:04}-{:02}", month.year(), month.month()), done);
        }
    }
    eprintln!();
    println!(
        "generated {} daily and {} monthly reports for {} scopes (overall and {} branches)",
        dates.len() * scopes.len(),
        months.len() * scopes.len(),
        scopes.len(),
        scopes.len() - 1
    );
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportKind {
    Daily,
    Monthly,
    Dashboard,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Xlsx,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, value_enum)]
    pub kind: ExportKind,
    /// daily: the date; monthly: any date of the month; dashboard: the last date.
    #[arg(long)]
    pub date: Date,
    /// dashboard only: the first date (default: 6 days before --date).
    #[arg(long)]
    pub from: Option<Date>,
    /// One branch; without it: overall.
    #[arg(long)]
    pub branch: Option<i64>,
    #[arg(long, value_enum, default_value = "csv")]
    pub format: ExportFormat,
    /// The file to write.
    #[arg(long)]
    pub out: std::path::PathBuf,
}

/// Writes a report export; daily and monthly reports are generated first so the file
/// has the current numbers.
pub async fn export(core: Core, args: ExportArgs) -> anyhow::Result<()> {
    use cctv_core::export::{
        daily_sheets, dashboard_sheets, monthly_sheets, write_csv, write_xlsx,
    };
    let service = ReportService::new(core.clone());
    let estate = core.estate();
    let name = |id: i64| {
        estate
            .branches
            .get(&id)
            .map_or_else(|| "Unknown".to_owned(), |b| b.branch_name.clone())
    };
    if let Some(b) = args.branch {
        anyhow::ensure!(
            estate.branches.contains_key(&b),
            "branch {b} does not exist"
        );
    }
    let scope = args.branch.map_or_else(|| "Overall".to_owned(), name);
    let sheets = match args.kind {
        ExportKind::Daily => {
            let r = service
                .generate(ReportKey::daily(args.date, args.branch))
                .await?;
            daily_sheets(&serde_json::from_value(r.data)?, &scope)
        }
        ExportKind::Monthly => {
            let r = service
                .generate(ReportKey::monthly(args.date, args.branch))
                .await?;
            monthly_sheets(&serde_json::from_value(r.data)?, &scope, name)
        }
        ExportKind::Dashboard => {
            let from = match args.from {
                Some(f) => f,
                None => args.date.checked_sub(jiff::Span::new().days(6))?,
            };
            let r = service
                .dashboard(from, args.date, args.branch.map(|b| vec![b]))
                .await?;
            dashboard_sheets(&r, name)
        }
    };
    let file = std::fs::File::create(&args.out)
        .map_err(|e| anyhow::anyhow!("creating {}: {e}", args.out.display()))?;
    match args.format {
        ExportFormat::Csv => write_csv(&sheets, std::io::BufWriter::new(file))?,
        ExportFormat::Xlsx => {
            use std::io::Write;
            std::io::BufWriter::new(file).write_all(&write_xlsx(&sheets)?)?
        }
    }
    println!("wrote {}", args.out.display());
    Ok(())
}
