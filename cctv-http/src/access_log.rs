//! The API access log: one JSON line per `/api` request, written off the
//! request path.
//!
//! The hoop only builds an [`AccessLogLine`] and `try_send`s it into a bounded channel;
//! a writer task drains the channel in batches and appends each batch with one write per
//! day file. A request never waits for the disk: if the writer falls behind and the
//! channel is full, the line is dropped and counted ([`AccessLog::dropped`]) rather than
//! slowing ingest. The line holds no headers, bodies or query strings (see
//! [`cctv_admin::api_log`]), so an `X-API-Secret`, a password or a bearer token cannot
//! reach it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use cctv_admin::api_log::AccessLogLine;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use salvo::{Depot, FlowCtrl, Handler, Request, Response, async_trait};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::AppState;
use crate::auth::DeviceAuth;
use crate::envelope::RequestMeta;

/// Lines waiting for the writer before new ones are dropped.
const CHANNEL: usize = 65_536;
/// Most lines appended in one write.
const BATCH: usize = 4_096;

tokio::task_local! {
    /// The user a bearer token authenticated during this request (0: none).
    static USER: Arc<AtomicI64>;
}

/// Records the authenticated user of the current request for its access log line.
pub(crate) fn note_user(user_id: i64) {
    let _ = USER.try_with(|cell| cell.store(user_id, Ordering::Relaxed));
}

/// The sending side of the access log; cheap to clone.
#[derive(Debug, Clone)]
pub struct AccessLog {
    tx: mpsc::Sender<AccessLogLine>,
    tz: TimeZone,
    dropped: Arc<AtomicU64>,
}

impl AccessLog {
    /// Starts the writer task, appending to `<logs_dir>/api_requests/YYYY-MM-DD.log` (day in
    /// `tz`). The task ends when every `AccessLog` clone is dropped, after writing what
    /// was sent.
    pub fn start(logs_dir: PathBuf, tz: TimeZone) -> (Self, tokio::task::JoinHandle<()>) {
        Self::start_for_node(logs_dir, None, tz)
    }

    /// Like [`start`](Self::start), for one of several nodes sharing `logs_dir`: the files
    /// go to `<logs_dir>/api_requests/<node>/` (the daily fold reads every node's).
    pub fn start_for_node(
        logs_dir: PathBuf,
        node: Option<&str>,
        tz: TimeZone,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(CHANNEL);
        let mut dir = logs_dir.join("api_requests");
        if let Some(node) = node {
            dir.push(node);
        }
        let task = tokio::spawn(write_loop(dir, rx));
        let log = Self {
            tx,
            tz,
            dropped: Arc::new(AtomicU64::new(0)),
        };
        (log, task)
    }

    /// Lines dropped because the writer was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn record(&self, line: AccessLogLine) {
        if self.tx.try_send(line).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn write_loop(dir: PathBuf, mut rx: mpsc::Receiver<AccessLogLine>) {
    let mut open: Option<(String, tokio::fs::File)> = None;
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let mut start = 0;
        while start < batch.len() {
            // Lines arrive in time order, so a batch holds one day, or two around midnight.
            let day = day_of(&batch[start]).to_owned();
            let end = batch[start..]
                .iter()
                .position(|l| day_of(l) != day)
                .map_or(batch.len(), |n| start + n);
            let mut text = Vec::with_capacity((end - start) * 256);
            for line in &batch[start..end] {
                if serde_json::to_writer(&mut text, line).is_ok() {
                    text.push(b'\n');
                }
            }
            if let Err(e) = append(&dir, &mut open, &day, &text).await {
                tracing::warn!(error = %e, lines = end - start, "writing the API access log failed");
                open = None;
            }
            start = end;
        }
        batch.clear();
    }
}

fn day_of(line: &AccessLogLine) -> &str {
    line.timestamp.get(..10).unwrap_or("unknown")
}

async fn append(
    dir: &std::path::Path,
    open: &mut Option<(String, tokio::fs::File)>,
    day: &str,
    text: &[u8],
) -> std::io::Result<()> {
    if open.as_ref().is_none_or(|(d, _)| d != day) {
        // Client addresses and user ids: the owner's only (0700 directories, 0600 files).
        let private_dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || cctv_core::private_files::create_dir_all(&private_dir))
            .await
            .map_err(std::io::Error::other)??;
        let file = tokio::fs::OpenOptions::from(cctv_core::private_files::open_options())
            .create(true)
            .append(true)
            .open(dir.join(format!("{day}.log")))
            .await?;
        *open = Some((day.to_owned(), file));
    }
    let (_, file) = open.as_mut().expect("opened above");
    file.write_all(text).await?;
    file.flush().await
}

/// The route template of the request (`api/v1/person/{re_id}`), `(unmatched)` for a path
/// no route knows.
fn endpoint(req: &Request, depot: &mut Depot) -> String {
    crate::route::template(req, depot).map_or_else(|| "(unmatched)".into(), |t| t.to_string())
}

/// Logs `/api` requests (after the [`crate::Prelude`] hoop, which provides the state).
pub(crate) struct AccessLogHoop;

#[async_trait]
impl Handler for AccessLogHoop {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        let path = req.uri().path();
        let is_api = path == "/api" || path.starts_with("/api/");
        let log = depot
            .get_typed::<Arc<AppState>>()
            .ok()
            .and_then(|s| s.access_log.clone());
        let Some(log) = log.filter(|_| is_api) else {
            ctrl.call_next(req, depot, res).await;
            return;
        };
        let started = std::time::Instant::now();
        let request_bytes = req
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let user = Arc::new(AtomicI64::new(0));
        USER.scope(user.clone(), ctrl.call_next(req, depot, res))
            .await;
        let status = res.status_code.map_or(200, |s| s.as_u16());
        let user_id = user.load(Ordering::Relaxed);
        let line = AccessLogLine {
            timestamp: cctv_core::time_text::local_millis(Timestamp::now(), &log.tz),
            request_id: depot
                .get_typed::<RequestMeta>()
                .map(|m| m.request_id.clone())
                .unwrap_or_default(),
            credential_id: depot.get_typed::<DeviceAuth>().ok().map(DeviceAuth::id),
            user_id: (user_id != 0).then_some(user_id),
            endpoint: endpoint(req, depot),
            method: req.method().as_str().to_owned(),
            status,
            duration_ms: (started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0,
            request_bytes,
            response_bytes: res.body.size().unwrap_or(0),
            ip: req
                .remote_addr()
                .clone()
                .into_std()
                .map(|a| a.ip().to_string()),
        };
        log.record(line);
    }
}
