//! The message log: one JSON line per send attempt (and per suppressed send) in
//! `<dir>/YYYY-MM-DD.log`, the day in the configured timezone. The daily
//! aggregation ([`super::summary`]) folds these files into `whatsapp_delivery_summary`.
//!
//! Sends must not wait for the disk, so `DeliveryLog::append` only queues the line; one
//! writer thread drains the queue in batches through a `BufWriter` and flushes after each
//! batch. The queue is bounded (a stuck disk slows senders down instead of growing memory).
//! Lines carry no secrets: plugins keep API keys and tokens out of their error messages,
//! and the message text is not logged at all.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

/// What happened to one send, as logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineStatus {
    Sent,
    /// Refused by the provider, or the job's last attempt failed: not retried.
    Failed,
    /// A transient failure; the job tries again later.
    Retrying,
    /// Inside the recipient's cooldown; counted in the next message's digest line.
    Suppressed,
}

/// One line of the message log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryLine {
    pub timestamp: Timestamp,
    pub event_log_id: i64,
    pub job_id: Option<String>,
    pub branch_id: i64,
    pub device_id: String,
    pub re_id: Option<String>,
    pub recipient: String,
    /// The notifier kind.
    pub channel: String,
    pub status: LineStatus,
    pub provider_message_id: Option<String>,
    pub latency_ms: Option<u64>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// 1-based attempt of the job.
    pub attempt: u32,
    /// The message carried an image.
    pub image: bool,
    /// Suppressed sends counted by this message's digest line.
    pub digest_count: u32,
}

/// The file of one day.
pub(crate) fn log_path(dir: &Path, date: Date) -> PathBuf {
    dir.join(format!("{date}.log"))
}

enum Msg {
    Line(Date, String),
    Flush(oneshot::Sender<()>),
}

/// Handle to the writer thread; cheap to clone. The thread ends when every handle is gone.
#[derive(Debug, Clone)]
pub struct DeliveryLog {
    tx: mpsc::Sender<Msg>,
    tz: TimeZone,
}

impl DeliveryLog {
    /// Starts the writer thread for `dir` (created when missing).
    pub fn start(dir: PathBuf, tz: TimeZone) -> std::io::Result<Self> {
        cctv_core::private_files::create_dir_all(&dir)?;
        let (tx, rx) = mpsc::channel(8192);
        std::thread::Builder::new()
            .name("cctv-message-log".into())
            .spawn(move || writer(dir, rx))?;
        Ok(Self { tx, tz })
    }

    /// Queues a line; waits only when the queue is full.
    pub(crate) async fn append(&self, line: &DeliveryLine) {
        let date = line.timestamp.to_zoned_datetime(self.tz.clone()).date();
        match serde_json::to_string(line) {
            Ok(json) => {
                if self.tx.send(Msg::Line(date, json)).await.is_err() {
                    tracing::warn!("message log writer is gone; line dropped");
                }
            }
            Err(e) => tracing::warn!(error = %e, "message log line not serialisable"),
        }
    }

    /// Waits until every line queued before this call is on disk (tests, shutdown).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

fn writer(dir: PathBuf, mut rx: mpsc::Receiver<Msg>) {
    let mut open: Option<(Date, BufWriter<File>)> = None;
    while let Some(first) = rx.blocking_recv() {
        let mut waiting = Vec::new();
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                Msg::Line(date, json) => {
                    if let Err(e) = write_line(&dir, &mut open, date, &json) {
                        tracing::warn!(error = %e, "writing the message log failed; line dropped");
                    }
                }
                Msg::Flush(done) => waiting.push(done),
            }
            next = rx.try_recv().ok();
        }
        if let Some((_, file)) = open.as_mut()
            && let Err(e) = file.flush()
        {
            tracing::warn!(error = %e, "flushing the message log failed");
        }
        for done in waiting {
            let _ = done.send(());
        }
    }
}

fn write_line(
    dir: &Path,
    open: &mut Option<(Date, BufWriter<File>)>,
    date: Date,
    json: &str,
) -> std::io::Result<()> {
    if open.as_ref().is_none_or(|(d, _)| *d != date) {
        if let Some((_, mut old)) = open.take() {
            old.flush()?;
        }
        // Phone numbers and message texts: the owner's only.
        let file = cctv_core::private_files::open_options()
            .create(true)
            .append(true)
            .open(log_path(dir, date))?;
        *open = Some((date, BufWriter::new(file)));
    }
    let (_, file) = open.as_mut().expect("opened above");
    file.write_all(json.as_bytes())?;
    file.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(at: &str, status: LineStatus) -> DeliveryLine {
        DeliveryLine {
            timestamp: at.parse().unwrap(),
            event_log_id: 7,
            job_id: None,
            branch_id: 1,
            device_id: "CAM".into(),
            re_id: Some("P1".into()),
            recipient: "6281234567890".into(),
            channel: "whatsapp".into(),
            status,
            provider_message_id: None,
            latency_ms: Some(12),
            error_code: None,
            error_message: None,
            attempt: 1,
            image: false,
            digest_count: 0,
        }
    }

    #[tokio::test]
    async fn lines_go_to_the_file_of_their_local_day() {
        let dir = tempfile_dir();
        let tz = TimeZone::get("Asia/Jakarta").unwrap();
        let log = DeliveryLog::start(dir.clone(), tz).unwrap();
        // 18:00 UTC is already the next day in Jakarta (UTC+7).
        log.append(&line("2026-11-28T10:00:00Z", LineStatus::Sent))
            .await;
        log.append(&line("2026-11-28T18:00:00Z", LineStatus::Retrying))
            .await;
        log.flush().await;
        let first = std::fs::read_to_string(log_path(&dir, "2026-11-28".parse().unwrap())).unwrap();
        let second =
            std::fs::read_to_string(log_path(&dir, "2026-11-29".parse().unwrap())).unwrap();
        let parsed: DeliveryLine = serde_json::from_str(first.trim_end()).unwrap();
        assert_eq!(parsed, line("2026-11-28T10:00:00Z", LineStatus::Sent));
        assert_eq!(second.lines().count(), 1);
        assert!(second.contains(r#""status":"retrying""#), "{second}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cctv-log-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
