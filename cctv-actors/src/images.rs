//! The image worker: a supervised actor that drains the `images` queue (SPEC §8).
//!
//! For each job it reads the uploaded blob, runs [`cctv_image::process_event_image`] on a
//! blocking thread (decoding and encoding take 0.2–0.6 s of CPU; on an async executor
//! thread that would stall every request sharing it), stores the watermarked JPEG and the
//! 320×240 thumbnail next to the original, registers both in `storage_files`, and points
//! the event log at them.
//!
//! Failure policy, by what a retry could change:
//! - the image itself is bad (corrupt, truncated, a decompression bomb, unsupported): the
//!   event is marked with the reason (`event_logs.image_error`, its `image_path` cleared so
//!   no page tries to show it) and the job **completes** with
//!   `{"status":"rejected","error":…}` — it did its work, and failed jobs are kept for
//!   faults a retry can fix;
//! - the store or the database is unavailable: the job is retried on the images schedule
//!   (10/30/60 s) and then fails;
//! - the payload or the event is gone: the job fails at once, no retry.
//!
//! Panics: the CPU step runs under `spawn_blocking`, whose panics come back as a
//! `JoinError` (and `process_event_image` catches codec panics itself). Anything else that
//! panics takes down the job task, not the actor; the actor then stops so the `Supervisor`
//! restarts it, and the job's lease expires so it is claimed again (actix does not restart
//! a panicking actor on its own).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use actix::{
    Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Message, Supervised,
    WrapFuture,
};
use cctv_core::Core;
use cctv_core::blob::BlobError;
use cctv_core::files::tables::{EVENT_LOG_FILES, STORAGE_FILES};
use cctv_core::files::{EVENT_LOGS, derived_paths};
use cctv_core::jobs::{ClaimedJob, Lease, Queue, RetryPolicy};
use cctv_core::media::inspect_image;
use cctv_core::records::{Filter, Record, WriteOp, by_id};
use cctv_image::{EncodedImage, ImageLimits, Watermark, process_event_image};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

/// Called with each claimed job before it is processed (fault injection in tests).
pub type ImageJobHook = Arc<dyn Fn(&ClaimedJob) + Send + Sync>;

/// Tuning of the image worker.
#[derive(Clone)]
pub struct ImageSettings {
    /// Images processed at the same time (each holds a blocking thread and up to
    /// `limits.max_alloc_bytes` of memory).
    pub concurrency: usize,
    /// Decoder bounds: what a 20000×20000 PNG bomb is refused by.
    pub limits: ImageLimits,
    pub retry: RetryPolicy,
    pub before_job: Option<ImageJobHook>,
}

impl Default for ImageSettings {
    fn default() -> Self {
        Self {
            concurrency: 1,
            limits: ImageLimits::default(),
            retry: Queue::Images.default_retry(),
            before_job: None,
        }
    }
}

/// Counters of the image worker, for monitoring and tests.
#[derive(Debug, Default)]
pub struct ImageStats {
    pub processed: AtomicU64,
    pub rejected: AtomicU64,
    pub failed_attempts: AtomicU64,
    pub restarts: AtomicU64,
}

pub(crate) struct ImageShared {
    pub core: Core,
    pub runtime: tokio::runtime::Handle,
    pub node_id: String,
    pub lease: SignedDuration,
    pub poll_interval: Duration,
    pub settings: ImageSettings,
    pub stats: Arc<ImageStats>,
    pub stopping: Arc<AtomicBool>,
}

#[derive(Message)]
#[rtype(result = "()")]
struct Pull;

pub(crate) struct ImageWorker {
    shared: Arc<ImageShared>,
}

impl ImageWorker {
    pub(crate) fn new(shared: Arc<ImageShared>) -> Self {
        Self { shared }
    }
}

impl Actor for ImageWorker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.notify(Pull);
    }
}

impl Supervised for ImageWorker {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.shared.stats.restarts.fetch_add(1, Ordering::Relaxed);
        tracing::warn!("image worker restarting; its claimed jobs return when their lease ends");
    }
}

impl Handler<Pull> for ImageWorker {
    type Result = ();

    fn handle(&mut self, _: Pull, ctx: &mut Context<Self>) {
        if self.shared.stopping.load(Ordering::Acquire) {
            return;
        }
        let shared = self.shared.clone();
        let task = shared.runtime.spawn(run_once(shared.clone()));
        ctx.wait(task.into_actor(self).map(|joined, act, ctx| {
            let outcome = catch_unwind(AssertUnwindSafe(|| match joined {
                Ok(found) => Some(found),
                Err(e) if e.is_panic() => None,
                Err(_) => Some(0),
            }))
            .unwrap_or(None);
            match outcome {
                Some(_) if act.shared.stopping.load(Ordering::Acquire) => {}
                Some(0) => {
                    ctx.notify_later(Pull, act.shared.poll_interval);
                }
                Some(_) => ctx.notify(Pull),
                None => {
                    tracing::error!("image job task panicked; restarting the image worker");
                    ctx.stop();
                }
            }
        }));
    }
}

/// Claims up to `concurrency` due jobs and processes them concurrently. Returns how many
/// were claimed.
async fn run_once(shared: Arc<ImageShared>) -> usize {
    let now = Timestamp::now();
    let lease = Lease {
        owner: shared.node_id.clone(),
        until: now + shared.lease,
    };
    let jobs = match shared
        .core
        .storage()
        .claim(
            Queue::Images,
            &lease,
            shared.settings.concurrency.max(1),
            now,
        )
        .await
    {
        Ok(jobs) => jobs,
        Err(e) => {
            tracing::warn!(error = %e, "claiming image jobs failed");
            return 0;
        }
    };
    let found = jobs.len();
    let mut tasks = tokio::task::JoinSet::new();
    for job in jobs {
        let shared = shared.clone();
        tasks.spawn(async move { settle(&shared, job).await });
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done
            && e.is_panic()
        {
            std::panic::resume_unwind(e.into_panic());
        }
    }
    found
}

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

async fn settle(shared: &ImageShared, job: ClaimedJob) {
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
    let watermark = watermark(shared, &event, event_id);
    let limits = shared.settings.limits;
    let cpu = tokio::task::spawn_blocking(move || process_event_image(&bytes, &watermark, &limits));
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
fn watermark(shared: &ImageShared, event: &Record, event_id: i64) -> Watermark {
    let at = event
        .get("event_timestamp")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<Timestamp>().ok())
        .unwrap_or_else(Timestamp::now)
        .to_zoned_datetime(shared.core.timezone().clone());
    Watermark {
        lines: vec![
            at.strftime("%Y-%m-%d %H:%M:%S %Z").to_string(),
            format!("Event #{event_id}"),
        ],
    }
}

fn register(
    path: &str,
    image: &EncodedImage,
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
            ("related_table".to_owned(), Value::from(EVENT_LOGS)),
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
