//! Accepting many detections at once: the use case behind `POST /api/v1/detection/batch`,
//! for edge nodes that buffered detections while offline and upload the backlog.
//!
//! - The batch as a whole: the credential must be allowed to write, and the batch must
//!   hold 1 to [`CoreSettings::max_batch_items`](crate::CoreSettings) items
//!   ([`check_batch_len`]); otherwise no item is looked at.
//! - Every item goes through the same checks as one detection (fields, then the
//!   credential's scope, then the estate: see [the parent module](super)). A refused item
//!   is refused alone, with the field and the reason; the others go on.
//! - Idempotency is per item, exactly as for one detection: an `event_id` is unique per
//!   (credential, device). A retried item answers `duplicate` with the original job; the
//!   same key with another request is that item's refusal, naming the stored job. Two
//!   items of one batch with one key: the second answers as a retry of the first.
//! - The admitted items go to the sink together ([`IngestSink::submit_many`]) and the
//!   answer comes once all of them are durable. When the sink fails the caller retries the
//!   whole batch: the pipeline's sink commits a batch in one transaction, so none of it
//!   was stored, and items with an `event_id` are recognised on the retry anyway.
//!
//! Items carry no image: a batch is JSON only.

use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use super::{Refusal, admit, require_write, unavailable};
use crate::Core;
use crate::credential::Credential;
use crate::detection::{DetectionJob, DetectionRules};
use crate::estate::EstateSnapshot;
use crate::ingest::{IngestSink, Submitted};
use crate::jobs::JobId;

/// Default of [`CoreSettings::max_batch_items`](crate::CoreSettings).
pub(crate) const DEFAULT_MAX_BATCH_ITEMS: usize = 1000;

/// What became of one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// Stored as a new job (durable).
    Accepted,
    /// A retry of a request already stored (or of an earlier item of the same batch):
    /// `job_id` is the original job, nothing new was stored.
    Duplicate,
    /// Refused; see the item's error. Nothing was stored for it.
    Rejected,
}

/// Why an item was refused. (Fields in sorted order: the HTTP layer writes a batch's
/// results straight to JSON and answers the same text as a JSON map of them would.)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemError {
    /// The code a single detection would have been refused with: `VALIDATION_ERROR`,
    /// `FORBIDDEN` or `IDEMPOTENCY_CONFLICT`.
    pub code: &'static str,
    /// The field to blame (the first, when several are wrong).
    pub field: String,
    /// For a conflict: the job stored under the item's key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<JobId>,
    pub message: String,
}

/// The answer for one item, at its index in the batch. (Fields in sorted order, as
/// [`ItemError`]'s.)
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemResult {
    pub error: Option<ItemError>,
    pub index: usize,
    /// The item's job, or the original one for a duplicate; `None` when rejected.
    pub job_id: Option<JobId>,
    pub status: ItemStatus,
}

/// Why a batch was refused as a whole (nothing of it was stored).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// No items (422).
    #[error("a batch must hold at least one detection (at most {limit})")]
    Empty { limit: usize },
    /// More items than the limit (413).
    #[error("a batch may hold at most {limit} detections, this one holds {items}")]
    TooLarge { limit: usize, items: usize },
    /// The credential may not submit detections (403).
    #[error("{0}")]
    Forbidden(&'static str),
    /// Retry the whole batch shortly (503).
    #[error("{0}")]
    Unavailable(String),
}

/// Refuses a batch of `items` items that is empty or holds more than `limit`.
pub fn check_batch_len(items: usize, limit: usize) -> Result<(), BatchError> {
    match items {
        0 => Err(BatchError::Empty { limit }),
        n if n > limit => Err(BatchError::TooLarge { limit, items: n }),
        _ => Ok(()),
    }
}

impl Core {
    /// Accepts a batch of detections (each item the fields of one JSON detection) for
    /// `credential` (already authenticated and, if the caller limits rates, charged one per
    /// item), received at `received_at`. Returns one result per item, in input order, once
    /// every accepted item is durable. See the [module docs](self).
    pub async fn accept_detection_batch(
        &self,
        sink: &dyn IngestSink,
        credential: &Credential,
        items: Vec<Value>,
        received_at: Timestamp,
    ) -> Result<Vec<ItemResult>, BatchError> {
        let settings = self.settings();
        let results = accept_batch(
            sink,
            credential,
            &self.estate(),
            (&settings.detection_rules, settings.max_batch_items),
            items,
            received_at,
        )
        .await?;
        let metrics = self.metrics();
        let accepted = results
            .iter()
            .filter(|r| r.status == ItemStatus::Accepted)
            .count();
        metrics.detections_accepted(accepted as u64);
        for error in results.iter().filter_map(|r| r.error.as_ref()) {
            metrics.detection_rejected(error.code, 1);
        }
        Ok(results)
    }
}

/// The use case on its parts, so that it runs without a storage backend in tests.
async fn accept_batch(
    sink: &dyn IngestSink,
    credential: &Credential,
    estate: &EstateSnapshot,
    (rules, limit): (&DetectionRules, usize),
    items: Vec<Value>,
    received_at: Timestamp,
) -> Result<Vec<ItemResult>, BatchError> {
    require_write(credential).map_err(BatchError::Forbidden)?;
    check_batch_len(items.len(), limit)?;
    let (jobs, slots) = admit_all(credential, estate, rules, items, received_at);
    let submitted = if jobs.is_empty() {
        Vec::new()
    } else {
        let count = jobs.len();
        let answers = sink
            .submit_many(jobs)
            .await
            .map_err(|e| BatchError::Unavailable(unavailable(e)))?;
        if answers.len() != count {
            tracing::error!(
                count,
                answers = answers.len(),
                "the ingest sink answered a batch short"
            );
            return Err(BatchError::Unavailable(
                "The detections could not be stored; retry shortly".into(),
            ));
        }
        answers
    };
    Ok(answer(slots, &submitted))
}

/// An item's place in the answer while the admitted ones are submitted.
enum Slot {
    Refused(ItemError),
    /// Index into the submitted jobs.
    Admitted(usize),
}

/// Checks every item; returns the jobs to submit and every item's slot.
fn admit_all(
    credential: &Credential,
    estate: &EstateSnapshot,
    rules: &DetectionRules,
    items: Vec<Value>,
    received_at: Timestamp,
) -> (Vec<DetectionJob>, Vec<Slot>) {
    let mut jobs = Vec::with_capacity(items.len());
    let slots = items
        .into_iter()
        .map(|item| {
            let Value::Object(fields) = item else {
                return Slot::Refused(ItemError {
                    code: "VALIDATION_ERROR",
                    field: "body".into(),
                    message: "Each detection must be a JSON object".into(),
                    job_id: None,
                });
            };
            match admit(credential, estate, rules, fields, None, received_at) {
                Ok(request) => {
                    jobs.push(request.into_job(
                        JobId::new(),
                        Some(credential.id),
                        received_at,
                        None,
                        None,
                    ));
                    Slot::Admitted(jobs.len() - 1)
                }
                Err(refusal) => Slot::Refused(refused(refusal)),
            }
        })
        .collect();
    (jobs, slots)
}

fn refused(refusal: Refusal) -> ItemError {
    match refusal {
        Refusal::Invalid(errors) => {
            let (field, message) = errors
                .fields()
                .next()
                .map(|(f, m)| (f.to_owned(), m.first().cloned().unwrap_or_default()))
                .unwrap_or_else(|| ("body".into(), "The detection is invalid".into()));
            ItemError {
                code: "VALIDATION_ERROR",
                field,
                message,
                job_id: None,
            }
        }
        Refusal::OutOfScope { field, message } => ItemError {
            code: "FORBIDDEN",
            field: field.into(),
            message: message.into(),
            job_id: None,
        },
    }
}

/// Puts the sink's answers (one per admitted job, in order) in the items' places.
fn answer(slots: Vec<Slot>, submitted: &[Submitted]) -> Vec<ItemResult> {
    slots
        .into_iter()
        .enumerate()
        .map(|(index, slot)| match slot {
            Slot::Refused(error) => ItemResult {
                index,
                status: ItemStatus::Rejected,
                job_id: None,
                error: Some(error),
            },
            Slot::Admitted(i) => {
                let s = submitted[i];
                if s.conflict {
                    ItemResult {
                        index,
                        status: ItemStatus::Rejected,
                        job_id: None,
                        error: Some(ItemError {
                            code: "IDEMPOTENCY_CONFLICT",
                            field: "event_id".into(),
                            message: format!(
                                "This event_id was already used for a different request (job {})",
                                s.job_id
                            ),
                            job_id: Some(s.job_id),
                        }),
                    }
                } else {
                    ItemResult {
                        index,
                        status: if s.duplicate {
                            ItemStatus::Duplicate
                        } else {
                            ItemStatus::Accepted
                        },
                        job_id: Some(s.job_id),
                        error: None,
                    }
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
