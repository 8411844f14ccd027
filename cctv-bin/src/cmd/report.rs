//! `cctv report generate`, `backfill` and `export`: reports generated in this process,
//! straight from the database (no queue, no server needed), and exports of reports and
//! of rows (person-days, event logs, detections; streamed page by page).

use std::sync::Arc;

use cctv_admin::export::{
    Cell, CsvSink, DetectionExportFilter, EVENT_TYPES, EventExportFilter, PersonExportFilter,
    RowExport, TableSink, XlsxSink, export_rows, local_range,
};
use cctv_admin::reporting::{ReportKey, ReportService, Reporting};
use cctv_core::Core;
use cctv_core::estate::RecordStatus;
use clap::Args;
use jiff::civil::Date;

use crate::progress::Progress;

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
    let progress = Progress::new("backfill", Some(total as u64), "reports");
    for date in &dates {
        progress.message(date.to_string());
        for branch in &scopes {
            service.generate(ReportKey::daily(*date, *branch)).await?;
            progress.inc(1);
        }
    }
    for month in &months {
        progress.message(format!("{:04}-{:02}", month.year(), month.month()));
        for branch in &scopes {
            service
                .generate(ReportKey::monthly(*month, *branch))
                .await?;
            progress.inc(1);
        }
    }
    progress.finish();
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
    /// Person-days (re_id_masters), streamed.
    Persons,
    /// Event logs, streamed.
    Events,
    /// Detections (re_id_branch_detections), streamed.
    Detections,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Csv,
    Xlsx,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// What to export: a report (daily, monthly, dashboard) or rows (persons, events,
    /// detections).
    #[arg(long, value_enum)]
    pub kind: ExportKind,
    /// daily: the date; monthly: any date of the month; dashboard: the last date.
    /// persons, events, detections: only this date (same as --from D --to D).
    #[arg(long)]
    pub date: Option<Date>,
    /// dashboard: the first date (default: 6 days before --date); row exports: the first
    /// local date, included.
    #[arg(long)]
    pub from: Option<Date>,
    /// Row exports: the last local date, included.
    #[arg(long)]
    pub to: Option<Date>,
    /// One branch; without it: overall (reports) or every branch (rows).
    #[arg(long)]
    pub branch: Option<i64>,
    /// events, detections: one device.
    #[arg(long)]
    pub device: Option<String>,
    /// persons, detections: one person.
    #[arg(long)]
    pub re_id: Option<String>,
    /// persons: active or inactive.
    #[arg(long)]
    pub status: Option<String>,
    /// persons: a substring of the re-id or the name; events: of the re-id or device id.
    #[arg(long)]
    pub search: Option<String>,
    /// events: detection, alert, motion or manual.
    #[arg(long)]
    pub event_type: Option<String>,
    /// csv (formula-safe) or xlsx.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: ExportFormat,
    /// The file to write.
    #[arg(long)]
    pub out: std::path::PathBuf,
}

impl ExportArgs {
    /// The filters of a row export, checked.
    fn rows(&self, core: &Core) -> anyhow::Result<Option<RowExport>> {
        let (from, to) = match self.date {
            Some(d) => {
                anyhow::ensure!(
                    self.from.is_none() && self.to.is_none(),
                    "give --date or --from/--to, not both"
                );
                (Some(d), Some(d))
            }
            None => (self.from, self.to),
        };
        if let (Some(f), Some(t)) = (from, to) {
            anyhow::ensure!(f <= t, "--from must not be after --to");
        }
        let only = |flag: &str, set: bool, kinds: &str| -> anyhow::Result<()> {
            anyhow::ensure!(!set, "{flag} applies to {kinds} exports only");
            Ok(())
        };
        let branches = self.branch.map(|b| vec![b]);
        let export = match self.kind {
            ExportKind::Daily | ExportKind::Monthly | ExportKind::Dashboard => return Ok(None),
            ExportKind::Persons => {
                only("--device", self.device.is_some(), "events and detections")?;
                only("--event-type", self.event_type.is_some(), "events")?;
                if let Some(s) = &self.status {
                    anyhow::ensure!(
                        s == "active" || s == "inactive",
                        "--status must be active or inactive"
                    );
                }
                RowExport::Persons(PersonExportFilter {
                    date_from: from,
                    date_to: to,
                    branches,
                    status: self.status.clone(),
                    re_id: self.re_id.clone(),
                    search: self.search.clone(),
                })
            }
            ExportKind::Events => {
                only("--re-id", self.re_id.is_some(), "persons and detections")?;
                only("--status", self.status.is_some(), "persons")?;
                if let Some(t) = &self.event_type {
                    anyhow::ensure!(
                        EVENT_TYPES.contains(&t.as_str()),
                        "--event-type must be one of {}",
                        EVENT_TYPES.join(", ")
                    );
                }
                let (start, end) = local_range(from, to, core.timezone())?;
                RowExport::Events(EventExportFilter {
                    start,
                    end,
                    branches,
                    device_id: self.device.clone(),
                    event_type: self.event_type.clone(),
                    search: self.search.clone(),
                })
            }
            ExportKind::Detections => {
                only("--status", self.status.is_some(), "persons")?;
                only("--search", self.search.is_some(), "persons")?;
                only("--event-type", self.event_type.is_some(), "events")?;
                let (start, end) = local_range(from, to, core.timezone())?;
                RowExport::Detections(DetectionExportFilter {
                    start,
                    end,
                    branches,
                    device_id: self.device.clone(),
                    re_id: self.re_id.clone(),
                })
            }
        };
        Ok(Some(export))
    }
}

/// Streams a row export into the file: pages are read and written as they come, so the
/// memory used does not grow with the number of rows.
async fn export_rows_to(core: &Core, export: RowExport, args: &ExportArgs) -> anyhow::Result<()> {
    let progress = Arc::new(Progress::new("export", None, "rows"));
    let rows = match args.format {
        ExportFormat::Csv => {
            let file = std::fs::File::create(&args.out)
                .map_err(|e| anyhow::anyhow!("creating {}: {e}", args.out.display()))?;
            let sink = CsvSink::new(std::io::BufWriter::with_capacity(64 * 1024, file));
            export_rows(core, &export, Counted(sink, progress.clone()))
                .await?
                .1
        }
        ExportFormat::Xlsx => {
            export_rows(
                core,
                &export,
                Counted(XlsxSink::new(&args.out), progress.clone()),
            )
            .await?
            .1
        }
    };
    progress.finish();
    println!("wrote {} rows to {}", rows, args.out.display());
    Ok(())
}

/// A sink that counts its rows on a progress display.
struct Counted<S>(S, Arc<Progress>);

impl<S: TableSink> TableSink for Counted<S> {
    fn begin(&mut self, title: &str, headers: &[&str]) -> std::io::Result<()> {
        self.0.begin(title, headers)
    }
    fn row(&mut self, cells: &[Cell]) -> std::io::Result<()> {
        self.1.inc(1);
        self.0.row(cells)
    }
    fn finish(&mut self) -> std::io::Result<()> {
        self.0.finish()
    }
}

/// Writes a report export; daily and monthly reports are generated first so the file
/// has the current numbers.
pub async fn export(core: Core, args: ExportArgs) -> anyhow::Result<()> {
    use cctv_admin::export::{
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
    if let Some(rows) = args.rows(&core)? {
        return export_rows_to(&core, rows, &args).await;
    }
    let date = args
        .date
        .ok_or_else(|| anyhow::anyhow!("--date is required for report exports"))?;
    let scope = args.branch.map_or_else(|| "Overall".to_owned(), name);
    let sheets = match args.kind {
        ExportKind::Daily => {
            let r = service
                .generate(ReportKey::daily(date, args.branch))
                .await?;
            daily_sheets(&serde_json::from_value(r.data)?, &scope)
        }
        ExportKind::Monthly => {
            let r = service
                .generate(ReportKey::monthly(date, args.branch))
                .await?;
            monthly_sheets(&serde_json::from_value(r.data)?, &scope, name)
        }
        ExportKind::Dashboard => {
            let from = match args.from {
                Some(f) => f,
                None => date.checked_sub(jiff::Span::new().days(6))?,
            };
            let r = service
                .dashboard(from, date, args.branch.map(|b| vec![b]))
                .await?;
            dashboard_sheets(&r, name)
        }
        ExportKind::Persons | ExportKind::Events | ExportKind::Detections => {
            unreachable!("row exports returned above")
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
