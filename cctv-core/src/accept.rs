//! Accepting one detection from a device: the use case behind `POST /api/v1/detection/log`,
//! callable by any embedder with an [`IngestSink`].
//!
//! Order matters, and is the same for every caller:
//! 1. the credential may write at all;
//! 2. the request's shape and fields are validated (nesting, types, times, sizes);
//! 3. the credential's **scope** (its branch, or its device) is checked before the estate,
//!    so a scoped key learns nothing about branches and devices outside its scope;
//! 4. the device must be an active device of that active branch;
//! 5. an image is checked by content and stored; only then is the job submitted, and the
//!    answer comes once it is durable. A duplicate (same key, same request) answers with the
//!    original job; the same key with another request is a conflict. The stored image is
//!    removed again whenever the job is not stored.
//!
//! A refused request stores nothing.
//!
//! [`batch`] applies the same checks to every item of a batch upload
//! ([`Core::accept_detection_batch`]).

pub mod batch;

use jiff::Timestamp;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::Core;
use crate::blob::{StoredBlob, event_blob_path};
use crate::credential::Credential;
use crate::detection::{DetectionRequest, DetectionRules};
use crate::estate::EstateSnapshot;
use crate::ingest::{IngestError, IngestSink};
use crate::jobs::{JobId, JobState};
use crate::media::{MAX_IMAGE_BYTES, inspect_image};
use crate::validation::ValidationErrors;

/// What a device sent.
#[derive(Debug, Clone, Default)]
pub struct DetectionSubmission {
    /// The request fields as one JSON object (`cctv-http` turns form bodies into one,
    /// PHP-style names nested).
    pub fields: Map<String, Value>,
    /// The `Idempotency-Key` header, if sent.
    pub idempotency_key: Option<String>,
    /// The uploaded image's bytes, if any.
    pub image: Option<Vec<u8>>,
}

/// A detection accepted (durable) or recognised as a retry.
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptedDetection {
    pub job_id: JobId,
    /// `Queued` for a new job; the original job's state for a duplicate.
    pub state: JobState,
    /// A retry of a request already stored: nothing new was stored.
    pub duplicate: bool,
    pub re_id: String,
    /// `branch_id` exactly as sent (number for JSON, string for forms).
    pub branch_id: Value,
    pub device_id: String,
}

/// Why a detection was not accepted, by what the caller can do about it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AcceptError {
    /// Bad fields (422).
    #[error("invalid detection: {0}")]
    Invalid(ValidationErrors),
    /// Outside the credential's permissions or scope (403).
    #[error("{0}")]
    Forbidden(&'static str),
    /// The idempotency key was used before for a different request (409); `job_id` is
    /// the stored job.
    #[error("idempotency key reused for a different request (job {job_id})")]
    Conflict { job_id: JobId },
    /// Retry shortly (503): overloaded, shutting down, or storage unavailable.
    #[error("{0}")]
    Unavailable(String),
}

impl From<ValidationErrors> for AcceptError {
    fn from(e: ValidationErrors) -> Self {
        Self::Invalid(e)
    }
}

fn invalid(field: &str, message: &str) -> AcceptError {
    AcceptError::Invalid(ValidationErrors::single(field, message))
}

/// Why one detection's fields were refused before anything was stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Refusal {
    /// Bad fields, or a device that is not an active device of that active branch.
    Invalid(ValidationErrors),
    /// Outside the credential's scope; `field` is the field that left it.
    OutOfScope {
        field: &'static str,
        message: &'static str,
    },
}

impl From<ValidationErrors> for Refusal {
    fn from(e: ValidationErrors) -> Self {
        Self::Invalid(e)
    }
}

impl From<Refusal> for AcceptError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Invalid(errors) => Self::Invalid(errors),
            Refusal::OutOfScope { message, .. } => Self::Forbidden(message),
        }
    }
}

/// Step 1: the credential may write at all.
pub(crate) fn require_write(credential: &Credential) -> Result<(), &'static str> {
    if credential.permissions.write {
        Ok(())
    } else {
        Err("This API credential may not submit detections")
    }
}

/// Steps 2 to 4 for one detection's fields: shape and values, then the credential's
/// scope, then the estate. The same for a single detection and for every item of a batch.
pub(crate) fn admit(
    credential: &Credential,
    estate: &EstateSnapshot,
    rules: &DetectionRules,
    fields: Map<String, Value>,
    idempotency_key: Option<&str>,
    received_at: Timestamp,
) -> Result<DetectionRequest, Refusal> {
    crate::input::check_nesting(&fields)?;
    let request = DetectionRequest::from_fields(fields, idempotency_key, rules, received_at)?;
    let scope_branch = credential.branch_id.or_else(|| {
        let device = credential.device_id.as_deref()?;
        estate.devices.get(device).map(|d| d.branch_id)
    });
    if scope_branch.is_some_and(|own| own != request.branch_id) {
        return Err(Refusal::OutOfScope {
            field: "branch_id",
            message: "This API credential is not allowed for this branch",
        });
    }
    if credential
        .device_id
        .as_deref()
        .is_some_and(|own| own != request.device_id)
    {
        return Err(Refusal::OutOfScope {
            field: "device_id",
            message: "This API credential is not allowed for this device",
        });
    }
    if let Err(rejection) = estate.check_device(request.branch_id, &request.device_id) {
        return Err(Refusal::Invalid(ValidationErrors::single(
            rejection.field(),
            rejection.message(),
        )));
    }
    Ok(request)
}

/// What a caller is told when the sink could not make a job durable (always "retry").
pub(crate) fn unavailable(e: IngestError) -> String {
    match e {
        IngestError::Overloaded => "The server is busy; retry shortly".into(),
        IngestError::ShuttingDown => "The server is shutting down; retry shortly".into(),
        other => {
            tracing::error!(error = %other, "detections could not be made durable");
            "The detection could not be stored; retry shortly".into()
        }
    }
}

impl Core {
    /// Accepts one detection for `credential` (already authenticated), received at
    /// `received_at`: validates, checks scope and estate, stores the image, submits the
    /// job to `sink` and returns once it is durable. See the [module docs](self).
    pub async fn accept_detection(
        &self,
        sink: &dyn IngestSink,
        credential: &Credential,
        submission: DetectionSubmission,
        received_at: Timestamp,
    ) -> Result<AcceptedDetection, AcceptError> {
        require_write(credential).map_err(AcceptError::Forbidden)?;
        let request = admit(
            credential,
            &self.estate(),
            &self.settings().detection_rules,
            submission.fields,
            submission.idempotency_key.as_deref(),
            received_at,
        )?;
        // The digest goes into the fingerprint, which only a keyed request has: hashing
        // an upload of up to 10 MB is not free.
        let keyed = request.event_id.is_some();
        let (image, digest) = match submission.image {
            Some(bytes) => {
                let digest: Option<[u8; 32]> = keyed.then(|| Sha256::digest(&bytes).into());
                (Some(self.store_image(&bytes, received_at).await?), digest)
            }
            None => (None, None),
        };
        let branch_id = request.branch_id_raw.clone();
        let job = request.into_job(
            JobId::new(),
            Some(credential.id),
            received_at,
            image.clone(),
            digest.as_ref(),
        );
        let (re_id, device_id) = (job.re_id.clone(), job.device_id.clone());
        let submitted = match sink.submit(job).await {
            Ok(s) => s,
            Err(e) => {
                self.discard_image(image.as_ref()).await;
                return Err(AcceptError::Unavailable(unavailable(e)));
            }
        };
        let mut state = JobState::Queued;
        if !submitted.duplicate {
            self.metrics().detections_accepted(1);
        }
        if submitted.duplicate {
            self.discard_image(image.as_ref()).await;
            if submitted.conflict {
                return Err(AcceptError::Conflict {
                    job_id: submitted.job_id,
                });
            }
            if let Ok(Some(original)) = self.storage().job(submitted.job_id).await {
                state = original.state;
            }
        }
        Ok(AcceptedDetection {
            job_id: submitted.job_id,
            state,
            duplicate: submitted.duplicate,
            re_id,
            branch_id,
            device_id,
        })
    }

    /// Checks an upload by content and stores it under `events/…`.
    async fn store_image(&self, bytes: &[u8], now: Timestamp) -> Result<StoredBlob, AcceptError> {
        if bytes.len() > MAX_IMAGE_BYTES {
            return Err(invalid("image", "Image size must not exceed 10MB"));
        }
        let info = inspect_image(bytes).ok_or_else(|| {
            invalid(
                "image",
                "File must be an image (JPEG, PNG, WebP, GIF or BMP)",
            )
        })?;
        let blobs = self
            .blobs()
            .ok_or_else(|| AcceptError::Unavailable("Image storage is not configured".into()))?;
        let path = event_blob_path(now, info.format.extension());
        blobs.put(&path, bytes).await.map_err(|e| {
            tracing::error!(error = %e, "storing an uploaded image failed");
            AcceptError::Unavailable("The image could not be stored; retry shortly".into())
        })?;
        Ok(StoredBlob {
            path,
            mime: info.format.mime().into(),
            size: bytes.len() as u64,
            width: Some(info.width),
            height: Some(info.height),
        })
    }

    async fn discard_image(&self, image: Option<&StoredBlob>) {
        if let (Some(image), Some(blobs)) = (image, self.blobs())
            && let Err(e) = blobs.delete(&image.path).await
        {
            tracing::warn!(error = %e, path = %image.path, "removing an unused upload failed");
        }
    }
}
