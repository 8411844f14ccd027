//! One image job: read the upload, process it off the async runtime, store and register
//! the results, and settle the job by the failure policy of the [module](super).

use std::sync::atomic::Ordering;

use cctv_core::blob::BlobError;
use cctv_core::jobs::ClaimedJob;
use cctv_core::media::ProcessedImage;
use cctv_core::media::inspect_image;
use cctv_core::records::tables::{EVENT_LOG_FILES, STORAGE_FILES};
use cctv_core::records::{Filter, Record, WriteOp, by_id};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::ImageShared;

/// What became of one job.
enum Outcome {
    Processed(Value),
    /// The image is unusable: the event is marked, the job completes.
    Rejected(String),
    /// A retry may succeed.
    Retry(String),
    /// Nothing to work on: fail without retry.
    Fatal(String),
}

pub(super) async fn settle(shared: &ImageShared, job: ClaimedJob) {
    if let Some(hook) = &shared.settings.before_job {
        hook(&job);
    }
    let storage = shared.core.storage();
    let outcome = process(shared, &job).await;
    let now = Timestamp::now();
    let stats = &shared.stats;
    let settled = match outcome {
        Outcome::Processed(result) => {
            stats.processed.fetch_add(1, Ordering::Relaxed);
            storage.complete(job.id, result, now).await.map(|_| ())
        }
        Outcome::Rejected(error) => {
            stats.rejected.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(job_id = %job.id, error, "event image rejected");
            let result = json!({"status": "rejected", "error": error});
            storage.complete(job.id, result, now).await.map(|_| ())
        }
        Outcome::Retry(error) => {
            stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
            let retry_at = shared
                .settings
                .retry
                .delay_after(job.attempts + 1)
                .map(|d| {
                    now + SignedDuration::try_from(d).unwrap_or(SignedDuration::from_secs(60))
                });
            tracing::warn!(job_id = %job.id, error, will_retry = retry_at.is_some(), "image job failed");
            storage.fail(job.id, &error, retry_at, now).await
        }
        Outcome::Fatal(error) => {
            stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(job_id = %job.id, error, "image job cannot run");
            storage.fail(job.id, &error, None, now).await
        }
    };
    if let Err(e) = settled {
        tracing::warn!(job_id = %job.id, error = %e, "settling an image job failed; its lease will expire");
    }
}

async fn process(shared: &ImageShared, job: &ClaimedJob) -> Outcome {
    let (Some(event_id), Some(original)) = (
        job.payload.get("event_log_id").and_then(Value::as_i64),
        job.payload.get("image_path").and_then(Value::as_str),
    ) else {
        return Outcome::Fatal("unreadable payload".into());
    };
    let Some(blobs) = shared.core.blobs() else {
        return Outcome::Retry("no blob store configured".into());
    };
    let storage = shared.core.storage();
    let event = match storage
        .find_record(&EVENT_LOG_FILES, &by_id(event_id))
        .await
    {
        Ok(Some(event)) => event,
        Ok(None) => return Outcome::Fatal(format!("event log {event_id} does not exist")),
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    let bytes = match blobs.get(original).await {
        Ok(bytes) => bytes,
        Err(BlobError::NotFound) => {
            return reject(shared, event_id, "the uploaded image is missing".into()).await;
        }
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    let Some(processor) = shared.core.image_processor().cloned() else {
        // No processing in this process: the upload stays the event's image.
        return Outcome::Processed(json!({"status": "skipped", "reason": "no image processor"}));
    };
    let watermark = watermark(shared, &event, event_id);
    let cpu = tokio::task::spawn_blocking(move || processor.process(&bytes, &watermark));
    let images = match cpu.await {
        Ok(Ok(images)) => images,
        Ok(Err(e)) => return reject(shared, event_id, e.to_string()).await,
        Err(e) if e.is_panic() => {
            return reject(shared, event_id, "the image could not be decoded".into()).await;
        }
        Err(e) => return Outcome::Retry(e.to_string()),
    };
    let (main_path, thumb_path) = derived_paths(original);
    for (path, image) in [(&main_path, &images.main), (&thumb_path, &images.thumbnail)] {
        if let Err(e) = blobs.put(path, &image.bytes).await {
            return Outcome::Retry(e.to_string());
        }
    }
    let ops = [
        // A re-run after a crash replaces its own rows instead of tripping over them.
        WriteOp::Delete {
            table: &STORAGE_FILES,
            filters: vec![Filter::In(
                "file_path",
                vec![
                    Value::from(main_path.clone()),
                    Value::from(thumb_path.clone()),
                ],
            )],
        },
        register(
            &main_path,
            &images.main,
            event_id,
            "event_image_processed",
            original,
            job,
        ),
        register(
            &thumb_path,
            &images.thumbnail,
            event_id,
            "event_thumbnail",
            original,
            job,
        ),
        WriteOp::Update {
            table: &EVENT_LOG_FILES,
            changes: Record::from_iter([
                ("image_path".to_owned(), Value::from(main_path.clone())),
                ("thumbnail_path".to_owned(), Value::from(thumb_path.clone())),
                ("image_error".to_owned(), Value::Null),
            ]),
            filters: by_id(event_id),
        },
    ];
    if let Err(e) = storage.apply(&ops).await {
        return Outcome::Retry(e.to_string());
    }
    Outcome::Processed(json!({
        "status": "processed",
        "event_log_id": event_id,
        "image_path": main_path,
        "thumbnail_path": thumb_path,
        "width": images.main.width,
        "height": images.main.height,
    }))
}

/// Watermark lines: the event's time in the configured timezone, and its id.
fn watermark(shared: &ImageShared, event: &Record, event_id: i64) -> Vec<String> {
    let at = event
        .get("event_timestamp")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<Timestamp>().ok())
        .unwrap_or_else(Timestamp::now)
        .to_zoned_datetime(shared.core.timezone().clone());
    vec![
        at.strftime("%Y-%m-%d %H:%M:%S %Z").to_string(),
        format!("Event #{event_id}"),
    ]
}

fn register(
    path: &str,
    image: &ProcessedImage,
    event_id: i64,
    kind: &str,
    source: &str,
    job: &ClaimedJob,
) -> WriteOp {
    let mime = inspect_image(&image.bytes).map_or(image.mime, |i| i.format.mime());
    WriteOp::Insert {
        table: &STORAGE_FILES,
        record: Record::from_iter([
            ("file_path".to_owned(), Value::from(path)),
            ("file_type".to_owned(), Value::from(mime)),
            (
                "file_size".to_owned(),
                Value::from(image.bytes.len() as u64),
            ),
            ("width".to_owned(), Value::from(image.width)),
            ("height".to_owned(), Value::from(image.height)),
            ("storage_disk".to_owned(), Value::from("local")),
            (
                "related_table".to_owned(),
                Value::from(EVENT_LOG_FILES.name),
            ),
            ("related_id".to_owned(), Value::from(event_id)),
            (
                "metadata".to_owned(),
                json!({"kind": kind, "source": source, "job_id": job.id}),
            ),
        ]),
        link: None,
    }
}

/// Marks the event with why its image is unusable.
async fn reject(shared: &ImageShared, event_id: i64, error: String) -> Outcome {
    let mark = WriteOp::Update {
        table: &EVENT_LOG_FILES,
        changes: Record::from_iter([
            ("image_path".to_owned(), Value::Null),
            ("thumbnail_path".to_owned(), Value::Null),
            ("image_error".to_owned(), Value::from(error.clone())),
        ]),
        filters: by_id(event_id),
    };
    match shared.core.storage().apply(&[mark]).await {
        Ok(_) => Outcome::Rejected(error),
        Err(e) => Outcome::Retry(format!("marking the event failed: {e}")),
    }
}

/// The paths of an event image's processed JPEG and thumbnail, next to the original:
/// `events/…/{ts}_{uuid}.png` → `events/…/{ts}_{uuid}_processed.jpg` and `…_thumb.jpg`.
fn derived_paths(original: &str) -> (String, String) {
    let stem = match original.rfind('.') {
        Some(dot) if !original[dot..].contains('/') => &original[..dot],
        _ => original,
    };
    (format!("{stem}_processed.jpg"), format!("{stem}_thumb.jpg"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_paths_sit_next_to_the_original_whatever_its_extension() {
        assert_eq!(
            derived_paths("events/2026/11/28/17_ab.png"),
            (
                "events/2026/11/28/17_ab_processed.jpg".into(),
                "events/2026/11/28/17_ab_thumb.jpg".into()
            )
        );
        assert_eq!(derived_paths("a.b/c").0, "a.b/c_processed.jpg");
    }
}
