//! [`ReportService`]: the accumulators fed from storage, page by page.

use async_trait::async_trait;
use jiff::civil::Date;
use serde::Serialize;

use super::calendar::{days_counted, local_day_bounds, month_bounds, month_days};
use super::persons_memo::{Lookup, PersonsMemo, RangeKey, signature};
use super::{
    CachedReport, DailyAccumulator, DashboardAccumulator, DashboardCounts, DashboardReport,
    DetectionRow, MonthlyAccumulator, ReportError, ReportKey, ReportKind, Reporting, RowCursor,
    RowRange, StoredReport, dashboard_from_counts, persons_from_days,
};
use crate::AdminCore;
use cctv_core::Core;

/// Dirty marks expanded per storage call.
const EXPAND_BATCH: usize = 1_000;
/// Batches expanded by one call at most.
const MAX_EXPAND_PASSES: usize = 100;

/// Generates reports from the rows of the core's storage, in the core's timezone.
#[derive(Debug, Clone)]
pub struct ReportService {
    core: Core,
    /// Rows per detection page; `None`: what the store asks for.
    page_rows: Option<usize>,
}

/// The headline numbers every stored report has as columns.
struct Headline {
    total_detections: u64,
    unique_persons: u64,
    total_detected_count: i64,
    unique_devices: u64,
    total_events: u64,
}

impl ReportService {
    pub fn new(core: Core) -> Self {
        Self {
            core,
            page_rows: None,
        }
    }

    /// Reads rows `page_rows` at a time (tests use tiny pages to cross page boundaries).
    pub fn with_page_rows(mut self, rows: usize) -> Self {
        self.page_rows = Some(rows.max(1));
        self
    }

    /// Feeds every row of `range` to `push`, one page in memory at a time.
    async fn stream(
        &self,
        range: &RowRange,
        mut push: impl FnMut(&DetectionRow) -> Result<(), ReportError>,
    ) -> Result<(), ReportError> {
        let storage = self.core.report_store()?;
        let rows = self
            .page_rows
            .unwrap_or_else(|| storage.detection_page_rows())
            .max(1);
        let mut after: Option<RowCursor> = None;
        loop {
            let page = storage.detection_page(range, after, rows).await?;
            for (_, row) in &page {
                push(row)?;
            }
            match page.last() {
                Some((cursor, _)) if page.len() == rows => after = Some(*cursor),
                _ => return Ok(()),
            }
        }
    }

    /// Expands every mark, in batches. Bounded: marks re-marked as fast as they are read
    /// (a very busy estate) are left for the next call rather than looping forever.
    async fn expand_marks(&self) -> Result<(), ReportError> {
        for _ in 0..MAX_EXPAND_PASSES {
            if (self
                .core
                .report_store()?
                .expand_dirty_days(EXPAND_BATCH)
                .await? as usize)
                < EXPAND_BATCH
            {
                break;
            }
        }
        Ok(())
    }

    fn range(
        &self,
        (start, end): (jiff::Timestamp, jiff::Timestamp),
        branch: Option<i64>,
    ) -> RowRange {
        RowRange {
            start,
            end,
            branches: branch.map(|b| vec![b]),
        }
    }

    async fn daily(
        &self,
        date: Date,
        branch: Option<i64>,
    ) -> Result<(Headline, serde_json::Value), ReportError> {
        let tz = self.core.timezone();
        let range = self.range(local_day_bounds(date, tz)?, branch);
        // The day's running totals say how many persons the report will meet.
        let persons = self
            .core
            .storage()
            .day_counts(date, date)
            .await?
            .into_iter()
            .find(|c| c.date == date && c.branch_id == branch)
            .map_or(0, |c| usize::try_from(c.persons).unwrap_or(0));
        let mut acc = DailyAccumulator::with_capacity(date, tz.clone(), persons);
        self.stream(&range, |row| acc.push(row)).await?;
        acc.add_events(self.core.report_store()?.count_events(&range).await?);
        let r = acc.finish();
        let headline = Headline {
            total_detections: r.total_detections,
            unique_persons: r.unique_persons,
            total_detected_count: r.total_detected_count,
            unique_devices: r.unique_devices,
            total_events: r.total_events,
        };
        Ok((headline, to_json(&r)?))
    }

    async fn monthly(
        &self,
        first: Date,
        branch: Option<i64>,
    ) -> Result<(Headline, serde_json::Value), ReportError> {
        let tz = self.core.timezone();
        let (year, month) = (first.year(), first.month());
        let range = self.range(month_bounds(year, month, tz)?, branch);
        let mut acc = MonthlyAccumulator::new(year, month, tz.clone())?;
        self.stream(&range, |row| acc.push(row)).await?;
        for day in month_days(year, month)? {
            let events = self.range(local_day_bounds(day, tz)?, branch);
            acc.add_events(day, self.core.report_store()?.count_events(&events).await?)?;
        }
        let r = acc.finish(days_counted(year, month, self.core.today())?);
        let headline = Headline {
            total_detections: r.total_detections,
            unique_persons: r.unique_persons,
            total_detected_count: r.total_detected_count,
            unique_devices: r.unique_devices,
            total_events: r.total_events,
        };
        Ok((headline, to_json(&r)?))
    }
}

fn to_json(report: &impl Serialize) -> Result<serde_json::Value, ReportError> {
    serde_json::to_value(report).map_err(|e| ReportError::Rejected(format!("report json: {e}")))
}

/// How long a first view of a range waits for its distinct-persons scan before answering
/// "being computed".
const FIRST_VIEW_WAIT: std::time::Duration = std::time::Duration::from_millis(150);

/// Where a dashboard's distinct persons come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PersonsState {
    Exact,
    Stale,
    Pending,
}

impl ReportService {
    /// The dashboard from running totals (the detections themselves are not read);
    /// distinct persons over the range from the day totals when they tell it exactly,
    /// else from the `(date, branch, re_id)` index: scanned now (`cached` false), or
    /// cache-first.
    async fn assemble_dashboard(
        &self,
        from: Date,
        to: Date,
        branches: Option<Vec<i64>>,
        cached: bool,
    ) -> Result<DashboardReport, ReportError> {
        // Validates the range before any query.
        DashboardAccumulator::new(from, to, jiff::tz::TimeZone::UTC)?;
        let storage = self.core.storage();
        let (days, devices) = tokio::try_join!(
            storage.day_counts(from, to),
            storage.device_day_counts(from, to),
        )?;
        let (persons, state) = match persons_from_days(&days, from, to, branches.as_deref()) {
            Some(p) => (p, PersonsState::Exact),
            None if cached => {
                self.remembered_persons(from, to, branches.as_deref(), &days)
                    .await?
            }
            None => {
                let p = storage.range_persons(from, to, branches.as_deref()).await?;
                (p, PersonsState::Exact)
            }
        };
        let counts = DashboardCounts {
            days,
            devices,
            persons,
        };
        let mut report = dashboard_from_counts(from, to, branches.as_deref(), &counts)?;
        report.persons_stale = state != PersonsState::Exact;
        report.persons_pending = state == PersonsState::Pending;
        Ok(report)
    }

    /// Distinct persons of a multi-day range, cache-first (see `persons_memo`): exact when
    /// no detection arrived in the range since the last scan; otherwise the last figure,
    /// flagged stale, while one background scan refreshes it. A range never computed is
    /// scanned in the background; the first caller waits up to [`FIRST_VIEW_WAIT`] for it.
    async fn remembered_persons(
        &self,
        from: Date,
        to: Date,
        branches: Option<&[i64]>,
        days: &[cctv_core::query::DayCount],
    ) -> Result<(cctv_core::query::RangePersons, PersonsState), ReportError> {
        let key: RangeKey = (
            from,
            to,
            branches.map(|b| {
                let mut v = b.to_vec();
                v.sort_unstable();
                v
            }),
        );
        let Some(memo) = self.core.extension::<PersonsMemo>() else {
            // A core without admin parts of its own keeps no memo: scan every time.
            let persons = self
                .core
                .storage()
                .range_persons(from, to, branches)
                .await?;
            return Ok((persons, PersonsState::Exact));
        };
        let sig = signature(days, from, to);
        match memo.lookup(&key, &sig) {
            Lookup::Fresh(p) => Ok((p, PersonsState::Exact)),
            Lookup::Stale { persons, refresh } => {
                if refresh {
                    drop(self.scan_in_background(from, to, key, sig));
                }
                Ok((persons, PersonsState::Stale))
            }
            Lookup::Computing => Ok((Default::default(), PersonsState::Pending)),
            Lookup::Missing => {
                let scan = self.scan_in_background(from, to, key, sig);
                match tokio::time::timeout(FIRST_VIEW_WAIT, scan).await {
                    Ok(Ok(Some(p))) => Ok((p, PersonsState::Exact)),
                    _ => Ok((Default::default(), PersonsState::Pending)),
                }
            }
        }
    }

    /// Scans distinct persons for `key` on a task of its own (it finishes even when
    /// nobody waits) and remembers the result; the handle yields it.
    fn scan_in_background(
        &self,
        from: Date,
        to: Date,
        key: RangeKey,
        sig: crate::reporting::persons_memo::Signature,
    ) -> tokio::task::JoinHandle<Option<cctv_core::query::RangePersons>> {
        let core = self.core.clone();
        tokio::spawn(async move {
            let list = key.2.clone();
            match core
                .storage()
                .range_persons(from, to, list.as_deref())
                .await
            {
                Ok(p) => {
                    if let Some(memo) = core.extension::<PersonsMemo>() {
                        memo.store(key, sig, p.clone());
                    }
                    Some(p)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "scanning distinct persons failed");
                    if let Some(memo) = core.extension::<PersonsMemo>() {
                        memo.refresh_failed(&key);
                    }
                    None
                }
            }
        })
    }
}

#[async_trait]
impl Reporting for ReportService {
    #[tracing::instrument(skip_all, fields(report = %key))]
    async fn generate(&self, key: ReportKey) -> Result<StoredReport, ReportError> {
        let storage = self.core.report_store()?;
        // Order matters: marks are expanded and the stale version read before any row, so
        // a detection committed later leaves the report stale (see `store.rs`).
        self.expand_marks().await?;
        let version = storage.stale_version(&key).await?;
        let (h, data) = match key.kind {
            ReportKind::Daily => self.daily(key.date, key.branch_id).await?,
            ReportKind::Monthly => {
                self.monthly(key.date.first_of_month(), key.branch_id)
                    .await?
            }
        };
        let report = StoredReport {
            key: ReportKey {
                date: key.dates().0,
                ..key
            },
            total_detections: h.total_detections,
            unique_persons: h.unique_persons,
            total_detected_count: h.total_detected_count,
            unique_devices: h.unique_devices,
            total_events: h.total_events,
            data,
            generated_at: jiff::Timestamp::now(),
        };
        storage.upsert_report(&report).await?;
        if let Some(version) = version {
            storage.clear_stale(&report.key, version).await?;
        }
        Ok(report)
    }

    async fn cached(&self, key: ReportKey) -> Result<CachedReport, ReportError> {
        let storage = self.core.report_store()?;
        let key = ReportKey {
            date: key.dates().0,
            ..key
        };
        let report = storage.report(&key).await?;
        let (from, to) = key.dates();
        let fresh = report.is_some()
            && storage.stale_version(&key).await?.is_none()
            && !storage.has_dirty_days(from, to, key.branch_id).await?;
        Ok(CachedReport { report, fresh })
    }

    async fn dashboard(
        &self,
        from: Date,
        to: Date,
        branches: Option<Vec<i64>>,
    ) -> Result<DashboardReport, ReportError> {
        self.assemble_dashboard(from, to, branches, false).await
    }

    async fn dashboard_cached(
        &self,
        from: Date,
        to: Date,
        branches: Option<Vec<i64>>,
    ) -> Result<DashboardReport, ReportError> {
        self.assemble_dashboard(from, to, branches, true).await
    }

    async fn stale_reports(&self, limit: usize) -> Result<Vec<ReportKey>, ReportError> {
        self.expand_marks().await?;
        let storage = self.core.report_store()?;
        let mut keys = storage.stale_reports(ReportKind::Daily, limit).await?;
        let running_month = self.core.today().first_of_month();
        let monthly = storage.stale_reports(ReportKind::Monthly, limit).await?;
        keys.extend(monthly.into_iter().filter(|k| k.date < running_month));
        keys.truncate(limit);
        Ok(keys)
    }
}
