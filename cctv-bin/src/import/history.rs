//! History: detections, person-days, event logs, then reports.
//!
//! Detections go through the ordinary intake and processing, a batch per transaction, so
//! everything derived from them (person-days and their counters, branch memberships and
//! visits, day and device totals, hourly counts, event logs, dirty report days) follows
//! the same rules as live detections; they are marked `imported`, so nobody is notified.
//! What processing cannot know — a person's name, a person-day switched off — is copied
//! from `re_id_masters` afterwards.

use cctv_admin::manage::tables::PERSON_DAYS;
use cctv_admin::reporting::{ReportService, Reporting};
use cctv_core::detection::DetectionJob;
use cctv_core::jobs::JobId;
use cctv_core::person_day::PreparedDetection;
use cctv_core::records::{Filter, Record, WriteOp};
use cctv_core::storage::{AcceptItem, AcceptOutcome, DetectionOutcome};
use jiff::Timestamp;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::postgres::PgRow;

use super::Import;
use super::convert::utc;
use super::source::{flag, int, text};
use crate::progress::Progress;

const DETECTIONS: &str = "re_id_branch_detections";
const EVENT_LOGS: &str = "event_logs";
/// Refused event logs listed by id; the rest are only counted.
const LISTED: usize = 50;

/// A stable job id per source detection, so a batch interrupted after its commit is
/// recognised when the import is run again.
fn job_id(source: &str, id: i64) -> JobId {
    let digest = Sha256::digest(format!("laravel:{source}:{id}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    JobId(uuid::Builder::from_random_bytes(bytes).into_uuid())
}

impl Import<'_> {
    /// `AND <column> >= since` (local date) or nothing.
    fn since_clause(&self, column: &str) -> String {
        match self.since {
            Some(d) => format!(" AND {column} >= DATE '{d}'"),
            None => String::new(),
        }
    }

    pub(super) async fn detections(&mut self) -> anyhow::Result<()> {
        let mark = self.mark(DETECTIONS).await?;
        let since = self.since_clause("detection_timestamp");
        let count = |filter: &str| format!("SELECT count(*) FROM {DETECTIONS} WHERE {filter}");
        let total: i64 = sqlx::query_scalar(&count(&format!("id > $1{since}")))
            .bind(mark)
            .fetch_one(&self.source)
            .await?;
        let all: i64 = sqlx::query_scalar(&count("TRUE"))
            .fetch_one(&self.source)
            .await?;
        self.summary
            .skipped(DETECTIONS, (all - total).max(0) as u64);
        let sql = format!(
            "SELECT id, re_id, branch_id, device_id, detection_timestamp::text AS at,
                    detected_count::bigint AS detected_count, detection_data::text AS data
             FROM {DETECTIONS} WHERE id > $1{since} ORDER BY id LIMIT $2"
        );
        let progress = Progress::new("detections", Some(total.max(0) as u64), "detections");
        let mut last = mark;
        let mut first_batch = true;
        loop {
            let rows = sqlx::query(&sql)
                .bind(last)
                .bind(self.batch as i64)
                .fetch_all(&self.source)
                .await?;
            let Some(end) = rows.last().and_then(|r| int(r, "id")) else {
                break;
            };
            let mut jobs = Vec::with_capacity(rows.len());
            for row in &rows {
                let id = int(row, "id").unwrap_or_default();
                match self.detection_job(id, row) {
                    Ok(job) => jobs.push((id, job)),
                    Err(reason) => self.summary.refuse(DETECTIONS, format!("#{id}"), reason),
                }
            }
            let imported = if self.dry_run {
                jobs.len()
            } else {
                let first = std::mem::take(&mut first_batch);
                let batch = jobs.iter().map(|(_, j)| j.clone()).collect();
                match self.commit(batch, first).await {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::warn!(error = %e, "a batch failed; importing its detections one by one");
                        self.commit_each(jobs).await
                    }
                }
            };
            self.summary.imported(DETECTIONS, imported as u64);
            if !self.dry_run {
                self.set_mark(DETECTIONS, end).await?;
            }
            last = end;
            progress.inc(rows.len() as u64);
        }
        progress.finish();
        Ok(())
    }

    /// A source row as a detection job, or why it cannot be one.
    fn detection_job(&self, id: i64, row: &PgRow) -> Result<DetectionJob, String> {
        let re_id = text(row, "re_id").unwrap_or_default();
        if re_id.trim().is_empty() || re_id.chars().count() > 100 {
            return Err("re_id is empty or longer than 100 characters".into());
        }
        let source_branch = int(row, "branch_id").unwrap_or_default();
        let branch_id = *self
            .ids
            .branches
            .get(&source_branch)
            .ok_or_else(|| format!("branch {source_branch} was not imported"))?;
        let device_id = text(row, "device_id").unwrap_or_default();
        if !self.ids.has_device(&device_id) {
            return Err(format!("device {device_id} was not imported"));
        }
        let at: Timestamp = utc(text(row, "at"), self.source_tz)
            .and_then(|t| t.parse().ok())
            .ok_or("detection_timestamp is not a time in the source timezone")?;
        let detection_data = text(row, "data")
            .and_then(|d| serde_json::from_str::<Value>(&d).ok())
            .filter(Value::is_object)
            .map(cctv_core::json_text::JsonText::from);
        let detected_count = int(row, "detected_count")
            .unwrap_or(1)
            .clamp(1, i64::from(i32::MAX)) as i32;
        Ok(DetectionJob {
            job_id: job_id(&self.source_name, id),
            credential_id: None,
            event_id: None,
            idempotency_key: None,
            request_hash: None,
            re_id,
            branch_id,
            device_id,
            detected_count,
            detected_at: at,
            received_at: at,
            detection_data,
            person_features: None,
            image: None,
            imported: true,
        })
    }

    /// Accepts and processes one batch; returns how many detections it processed. On the first
    /// batch of a run, jobs stored by an earlier, interrupted run are processed (if still
    /// queued) but not stored twice.
    async fn commit(&self, jobs: Vec<DetectionJob>, first_batch: bool) -> anyhow::Result<usize> {
        let now = Timestamp::now();
        let mut fresh = Vec::with_capacity(jobs.len());
        let mut prepared = Vec::with_capacity(jobs.len());
        for job in jobs {
            if first_batch && self.storage.job(job.job_id).await?.is_some() {
                prepared.push(PreparedDetection::new(job, self.core.timezone()));
                continue;
            }
            fresh.push(AcceptItem { job, lease: None });
        }
        let outcomes = self.storage.accept_detections(&fresh, now).await?;
        for (item, outcome) in fresh.into_iter().zip(outcomes) {
            if outcome == AcceptOutcome::Accepted {
                prepared.push(PreparedDetection::new(item.job, self.core.timezone()));
            }
        }
        let results = self.storage.process_detections(&prepared, now).await?;
        Ok(results
            .iter()
            .filter(|r| r.outcome != DetectionOutcome::AlreadyProcessed)
            .count())
    }

    /// After a failed batch: each detection on its own, so one bad row is refused and
    /// listed instead of stopping the import. A detection the failed batch did store
    /// (accepted, not processed) is found by its job id and only processed.
    async fn commit_each(&mut self, jobs: Vec<(i64, DetectionJob)>) -> usize {
        let mut imported = 0;
        for (id, job) in jobs {
            match self.commit(vec![job], true).await {
                Ok(n) => imported += n,
                Err(e) => self
                    .summary
                    .refuse(DETECTIONS, format!("#{id}"), e.to_string()),
            }
        }
        imported
    }

    /// Names and switched-off person-days; a person-day without any detection is refused
    /// (its counts could not be rebuilt).
    pub(super) async fn person_days(&mut self) -> anyhow::Result<()> {
        const TABLE: &str = "re_id_masters";
        let since = self.since_clause("m.detection_date");
        let sql = format!(
            "SELECT m.id, m.re_id, m.detection_date::text AS day, m.person_name, m.status,
                    EXISTS (SELECT 1 FROM {DETECTIONS} d
                            WHERE d.re_id = m.re_id AND d.detection_timestamp >= m.detection_date
                              AND d.detection_timestamp < m.detection_date + 1) AS seen
             FROM re_id_masters m WHERE m.id > $1{since} ORDER BY m.id LIMIT 5000"
        );
        let mut last = 0i64;
        loop {
            let rows = sqlx::query(&sql).bind(last).fetch_all(&self.source).await?;
            let Some(end) = rows.last().and_then(|r| int(r, "id")) else {
                break;
            };
            last = end;
            for row in rows {
                let (Some(re_id), Some(day)) = (text(&row, "re_id"), text(&row, "day")) else {
                    continue;
                };
                let label = format!("{re_id} {day}");
                if !flag(&row, "seen", false) {
                    self.summary.refuse(
                        TABLE,
                        label,
                        "no detection of this person-day: its counts cannot be rebuilt",
                    );
                    continue;
                }
                let name = text(&row, "person_name");
                let inactive = text(&row, "status").as_deref() == Some("inactive");
                if name.is_none() && !inactive {
                    // Rebuilt from its detections; nothing else to carry.
                    self.summary.skipped(TABLE, 1);
                    continue;
                }
                self.carry_person_day(&re_id, &day, name, inactive, &label)
                    .await;
            }
        }
        Ok(())
    }

    async fn carry_person_day(
        &mut self,
        re_id: &str,
        day: &str,
        name: Option<String>,
        inactive: bool,
        label: &str,
    ) {
        let key = vec![
            Filter::Eq("re_id", Value::from(re_id)),
            Filter::Eq("detection_date", Value::from(day)),
        ];
        let mut changes = Record::new();
        if let Some(name) = name {
            changes.insert("person_name".into(), Value::from(name));
        }
        if inactive {
            changes.insert("status".into(), Value::from("inactive"));
        }
        if !self.dry_run {
            match self.storage.find_record(&PERSON_DAYS, &key).await {
                Ok(Some(ours)) if changes.iter().all(|(k, v)| ours.get(k) == Some(v)) => {
                    self.summary.skipped(PERSON_DAYS.name, 1);
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    self.summary.refuse(PERSON_DAYS.name, label, e.to_string());
                    return;
                }
            }
        }
        let op = WriteOp::Update {
            table: &PERSON_DAYS,
            changes,
            filters: key,
        };
        self.write(PERSON_DAYS.name, label, vec![op]).await;
    }

    /// The original wrote one event log per detection, in the same transaction; ours are
    /// written by processing. An event log without its detection (same person, branch,
    /// device and time) cannot be rebuilt and is refused.
    pub(super) async fn event_logs(&mut self) -> anyhow::Result<()> {
        let since = self.since_clause("e.event_timestamp");
        let orphans = format!(
            "SELECT e.id FROM {EVENT_LOGS} e
             WHERE NOT EXISTS (SELECT 1 FROM {DETECTIONS} d
                               WHERE d.re_id = e.re_id AND d.branch_id = e.branch_id
                                 AND d.device_id = e.device_id
                                 AND d.detection_timestamp = e.event_timestamp){since}
             ORDER BY e.id"
        );
        let orphans: Vec<i64> = sqlx::query_scalar(&orphans).fetch_all(&self.source).await?;
        let total: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {EVENT_LOGS} e WHERE TRUE{since}"
        ))
        .fetch_one(&self.source)
        .await?;
        let rebuilt = self
            .summary
            .tables
            .get(DETECTIONS)
            .map_or(0, |c| c.imported);
        for id in orphans.iter().take(LISTED) {
            self.summary.refuse(
                EVENT_LOGS,
                format!("#{id}"),
                "no detection of the same person, branch, device and time",
            );
        }
        if orphans.len() > LISTED {
            let more = (orphans.len() - LISTED) as u64;
            self.summary.refuse_unlisted(
                EVENT_LOGS,
                more,
                "no detection of the same person, branch, device and time",
            );
        }
        let matched = (total as u64).saturating_sub(orphans.len() as u64);
        self.summary.imported(EVENT_LOGS, rebuilt.min(matched));
        self.summary
            .skipped(EVENT_LOGS, matched.saturating_sub(rebuilt));
        Ok(())
    }

    /// Regenerates every report the imported detections made stale.
    pub(super) async fn reports(&mut self) -> anyhow::Result<()> {
        if self.dry_run {
            return Ok(());
        }
        let service = ReportService::new(self.core.clone());
        let mut generated = 0u64;
        // Each pass clears what it generated; the bound only guards against a store that
        // keeps re-marking (another node writing the same days).
        for _ in 0..1000 {
            let stale = service.stale_reports(500).await?;
            if stale.is_empty() {
                break;
            }
            for key in stale {
                service.generate(key).await?;
                generated += 1;
            }
        }
        if generated > 0 {
            self.summary.note(format!(
                "{generated} daily and monthly reports regenerated."
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::job_id;

    #[test]
    fn job_ids_are_stable_per_source_and_row() {
        assert_eq!(job_id("a:5432/x", 7), job_id("a:5432/x", 7));
        assert_ne!(job_id("a:5432/x", 7), job_id("a:5432/x", 8));
        assert_ne!(job_id("a:5432/x", 7), job_id("b:5432/x", 7));
    }
}
