//! The storage traits every backend implements, one per part of [`Storage`], in each
//! backend plugin (`plugins/storage-sqlite`, `plugins/storage-postgres`, `plugins/storage-memory`) and
//! checked by one conformance suite (the `cctv-testkit` crate).
//!
//! [`Storage`] is what every backend must provide; `cctv-admin` adds the optional
//! capabilities the reference server uses (notifications, reports, the schedule, …) and
//! `FullStorage`, a backend with all of them.

use std::fmt;

use async_trait::async_trait;

pub(crate) mod error;
mod processed;

use crate::records::RecordStore;
pub use error::{Cause, StorageError};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;

use crate::credential::{Credential, CredentialStatus, NewCredential};
use crate::detection::DetectionJob;
use crate::estate::{Branch, Device, EstateSnapshot, Group, RecordStatus};
use crate::jobs::{JobId, JobQueue, Lease};
use crate::person_day::PreparedDetection;
use crate::query::*;

/// What opening a database did to its schema: `applied` of the backend's `total`
/// migrations ran now (all of them on a new database, none when it was up to date).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MigrationReport {
    pub applied: usize,
    pub total: usize,
}

/// One line for an operator.
impl fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.applied {
            0 => write!(
                f,
                "database schema is up to date ({} migrations)",
                self.total
            ),
            n if n == self.total => write!(f, "created the database schema ({n} migrations)"),
            n => write!(
                f,
                "upgraded the database schema: applied {n} of {} migrations",
                self.total
            ),
        }
    }
}

/// Caches are keyed by topic; each topic's stamp changes whenever its tables change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeTopic {
    Estate,
    Credentials,
}

impl ChangeTopic {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Estate => "estate",
            Self::Credentials => "credentials",
        }
    }
}

/// Reading groups, branches and devices. They are written as management records
/// ([`RecordStore::apply`]; see [`crate::estate::EstateWrites`]).
#[async_trait]
pub trait EstateStore: Send + Sync + fmt::Debug + 'static {
    async fn estate_snapshot(&self) -> Result<EstateSnapshot, StorageError>;
    /// A number that changes whenever the topic's tables change (by any process).
    async fn change_stamp(&self, topic: ChangeTopic) -> Result<i64, StorageError>;
    async fn list_groups(&self) -> Result<Vec<Group>, StorageError>;
    async fn list_branches(&self) -> Result<Vec<Branch>, StorageError>;
    async fn list_devices(&self) -> Result<Vec<Device>, StorageError>;
}

/// Device API credentials.
#[async_trait]
pub trait CredentialStore: Send + Sync + fmt::Debug + 'static {
    async fn create_credential(
        &self,
        credential: &NewCredential,
    ) -> Result<Credential, StorageError>;
    async fn credentials(&self) -> Result<Vec<Credential>, StorageError>;
    async fn set_credential_status(
        &self,
        id: i64,
        status: CredentialStatus,
    ) -> Result<(), StorageError>;
    async fn set_credential_expiry(
        &self,
        id: i64,
        expires_at: Option<Timestamp>,
    ) -> Result<(), StorageError>;
    /// Records `last_used_at` for many credentials at once (flushed in the background).
    async fn record_credential_use(&self, uses: &[(i64, Timestamp)]) -> Result<(), StorageError>;
}

/// One detection to make durable, with the lease of the worker that will process it
/// straight from memory (none when the in-memory queue is full: the poller claims it).
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptItem {
    pub job: DetectionJob,
    pub lease: Option<Lease>,
}

/// The fate of one [`AcceptItem`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptOutcome {
    /// Stored as a new job.
    Accepted,
    /// The `(credential, key)` pair ([`DetectionJob::dedup_key`]) was stored before:
    /// `original` is that job and `request_hash` the fingerprint stored with it (none for
    /// keys stored before fingerprints were kept). Nothing new was stored.
    ///
    /// [`DetectionJob::dedup_key`]: crate::detection::DetectionJob::dedup_key
    Duplicate {
        original: JobId,
        request_hash: Option<String>,
    },
}

impl AcceptOutcome {
    /// The job that answers for the item: its own, or the original.
    pub fn job_id(&self, item: &AcceptItem) -> JobId {
        match self {
            Self::Accepted => item.job.job_id,
            Self::Duplicate { original, .. } => *original,
        }
    }

    /// A duplicate whose stored fingerprint differs from the item's: the same key was
    /// used for another request (409), not a retry.
    pub fn is_conflict(&self, item: &AcceptItem) -> bool {
        match self {
            Self::Accepted => false,
            Self::Duplicate { request_hash, .. } => {
                matches!((request_hash, &item.job.request_hash), (Some(a), Some(b)) if a != b)
            }
        }
    }
}

/// What processing did with one detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectionOutcome {
    /// Stored and counted.
    Counted,
    /// Stored, but the person-day is inactive: no counter changed, no notification.
    TrackingDisabled,
    /// The job had already completed (a redelivery); nothing was written.
    AlreadyProcessed,
}

/// The result of one processed detection job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessedDetection {
    pub job_id: JobId,
    pub outcome: DetectionOutcome,
    pub detection_date: Date,
    pub detection_id: Option<i64>,
    pub event_log_id: Option<i64>,
}

/// The ingest side: durable acceptance and batched processing.
#[async_trait]
pub trait IngestStore: Send + Sync + fmt::Debug + 'static {
    /// A short name of the backend (`sqlite`, `postgres`, `memory`), for metrics labels.
    fn backend_name(&self) -> &'static str {
        "custom"
    }

    /// Stores a group of detection jobs in one transaction (group commit). Items carry
    /// distinct `(credential_id, event_id)` pairs; a pair already stored is a duplicate.
    async fn accept_detections(
        &self,
        batch: &[AcceptItem],
        now: Timestamp,
    ) -> Result<Vec<AcceptOutcome>, StorageError>;

    /// Applies a batch in one transaction: person-day upserts (race-free), branch
    /// detections, event logs, child jobs and dirty report days, and completes the jobs.
    /// Jobs already completed are skipped, so redelivery has no second effect.
    async fn process_detections(
        &self,
        batch: &[PreparedDetection],
        now: Timestamp,
    ) -> Result<Vec<ProcessedDetection>, StorageError>;
}

/// Read side of the re-id registry, plus the person-day edits.
#[async_trait]
pub trait RegistryStore: Send + Sync + fmt::Debug + 'static {
    async fn list_detections(
        &self,
        filter: &DetectionFilter,
        page: PageRequest,
    ) -> Result<Page<DetectionItem>, StorageError>;
    async fn detection_summary(
        &self,
        date: Date,
        scope_branch: Option<i64>,
    ) -> Result<DetectionSummary, StorageError>;
    /// The running day totals of `from..=to`: every branch row and the all-branches row
    /// of each day that has detections (days without any have no rows).
    async fn day_counts(&self, from: Date, to: Date) -> Result<Vec<DayCount>, StorageError>;
    /// Per device, branch and day detections of `from..=to`.
    async fn device_day_counts(
        &self,
        from: Date,
        to: Date,
    ) -> Result<Vec<DeviceDayCount>, StorageError>;
    /// Distinct persons detected in `from..=to` at `branches` (all when `None`).
    async fn range_persons(
        &self,
        from: Date,
        to: Date,
        branches: Option<&[i64]>,
    ) -> Result<RangePersons, StorageError>;
    async fn person_day(
        &self,
        re_id: &str,
        date: Date,
        scope_branch: Option<i64>,
    ) -> Result<Option<PersonDay>, StorageError>;
    async fn branch_statistics(
        &self,
        branch_id: i64,
        date: Date,
        device_id: Option<&str>,
    ) -> Result<Option<BranchStatistics>, StorageError>;
    async fn set_person_day_status(
        &self,
        re_id: &str,
        date: Date,
        status: RecordStatus,
    ) -> Result<(), StorageError>;
}

/// What every backend provides: accepting and processing detections, the job queue, the
/// estate and credentials the device API checks, the registry it serves, and the generic
/// records the estate and the management side are written through. Implemented
/// automatically for any type with these parts; checked by the required part of the
/// conformance suite.
pub trait Storage:
    EstateStore + CredentialStore + IngestStore + RegistryStore + JobQueue + RecordStore
{
}

impl<T> Storage for T where
    T: EstateStore + CredentialStore + IngestStore + RegistryStore + JobQueue + RecordStore
{
}
