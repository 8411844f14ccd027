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
