//! Stream health: an actor that periodically probes every configured stream and records
//! `status` (`online`, `offline`, `error`) and `last_checked_at`.
//!
//! RTSP, RTMP and WebRTC endpoints are probed with a TCP connect to their host and port
//! (speaking each protocol would need its client; a refused or timed-out connect is what
//! operators need to see). HTTP, HLS and MJPEG streams get a `HEAD` request with the
//! stream's credentials: 2xx/3xx is online, 401/403 means the stored credentials are
//! wrong (`error`), other answers are `error`, no answer is `offline`.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use actix::{Actor, ActorFutureExt, AsyncContext, Context, Supervised, WrapFuture};
use cctv_admin::AdminCore;
use cctv_admin::manage::tables::STREAMS;
use cctv_core::Core;
use cctv_core::records::{ListQuery, Order, Record, WriteOp, by_id};
use cctv_core::storage::StorageError;
use futures_util::{FutureExt, StreamExt};
use serde_json::Value;

/// How often and how patiently streams are probed.
#[derive(Debug, Clone)]
pub struct StreamHealthSettings {
    pub interval: Duration,
    pub timeout: Duration,
    /// Probes in flight at once.
    pub concurrency: usize,
}

impl Default for StreamHealthSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(5),
            concurrency: 16,
        }
    }
}

/// Outcome of one sweep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthSweep {
    pub checked: usize,
    pub online: usize,
    /// Streams whose status changed in this sweep.
    pub changed: usize,
}

/// What a probe concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStatus {
    Online,
    Offline,
    Error,
}

impl StreamStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamStatus::Online => "online",
            StreamStatus::Offline => "offline",
            StreamStatus::Error => "error",
        }
    }
}

/// `(host, port)` of a stream URL, with the scheme's default port.
fn host_port(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let default = match scheme.to_ascii_lowercase().as_str() {
        "rtsp" => 554,
        "rtsps" => 322,
        "rtmp" => 1935,
        "https" => 443,
        _ => 80,
    };
    if let Some(v6) = host_port.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = after
            .strip_prefix(':')
            .map_or(Some(default), |p| p.parse().ok())?;
        return Some((host.to_owned(), port));
    }
    match host_port.rsplit_once(':') {
        Some((h, p)) => Some((h.to_owned(), p.parse().ok()?)),
        None => Some((host_port.to_owned(), default)),
    }
    .filter(|(h, _)| !h.is_empty())
}

/// Probes one stream.
pub async fn probe(
    client: &reqwest::Client,
    protocol: &str,
    url: &str,
    credentials: Option<(&str, Option<&str>)>,
    timeout: Duration,
) -> StreamStatus {
    if matches!(protocol, "http" | "hls" | "mjpeg") {
        let mut request = client.head(url).timeout(timeout);
        if let Some((user, password)) = credentials {
            request = request.basic_auth(user, password);
        }
        return match request.send().await {
            Ok(r) if r.status().is_success() || r.status().is_redirection() => StreamStatus::Online,
            Ok(_) => StreamStatus::Error,
            Err(e) if e.is_timeout() || e.is_connect() => StreamStatus::Offline,
            Err(_) => StreamStatus::Error,
        };
    }
    let Some((host, port)) = host_port(url) else {
        return StreamStatus::Error;
    };
    match tokio::time::timeout(
        timeout,
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    {
        Ok(Ok(_)) => StreamStatus::Online,
        _ => StreamStatus::Offline,
    }
}

async fn probe_record(
    core: &Core,
    client: &reqwest::Client,
    stream: &Record,
    timeout: Duration,
) -> StreamStatus {
    let secrets = core.secrets();
    let plain = |column: &str| {
        stream
            .get(column)
            .and_then(Value::as_str)
            .and_then(|c| secrets.decrypt(c).ok())
    };
    let Some(url) = plain("url_encrypted") else {
        return StreamStatus::Error;
    };
    let user = plain("username_encrypted");
    let password = plain("password_encrypted");
    let protocol = stream
        .get("stream_protocol")
        .and_then(Value::as_str)
        .unwrap_or("rtsp");
    let creds = user.as_deref().map(|u| (u, password.as_deref()));
    probe(client, protocol, &url, creds, timeout).await
}

/// Probes every stream once and records the results (one transaction per page).
pub async fn sweep(
    core: &Core,
    client: &reqwest::Client,
    settings: &StreamHealthSettings,
) -> Result<HealthSweep, StorageError> {
    let mut result = HealthSweep::default();
    let mut page = 1;
    loop {
        let query = ListQuery {
            filters: Vec::new(),
            order: Order::asc("id"),
            page,
            per_page: 100,
        };
        let (streams, total) = core.storage().list_records(&STREAMS, &query).await?;
        let statuses: Vec<(Record, StreamStatus)> = futures_util::stream::iter(streams)
            .map(|s| async move {
                let status = probe_record(core, client, &s, settings.timeout).await;
                (s, status)
            })
            .buffer_unordered(settings.concurrency.max(1))
            .collect()
            .await;
        let now = jiff::Timestamp::now().to_string();
        let mut ops = Vec::with_capacity(statuses.len());
        for (stream, status) in &statuses {
            result.checked += 1;
            result.online += usize::from(*status == StreamStatus::Online);
            if stream.get("status").and_then(Value::as_str) != Some(status.as_str()) {
                result.changed += 1;
            }
            let mut changes = Record::new();
            changes.insert("status".into(), Value::from(status.as_str()));
            changes.insert("last_checked_at".into(), Value::from(now.as_str()));
            let id = stream.get("id").and_then(Value::as_i64).unwrap_or_default();
            ops.push(WriteOp::Update {
                table: &STREAMS,
                changes,
                filters: by_id(id),
            });
        }
        if !ops.is_empty() {
            core.storage().apply(&ops).await?;
        }
        if u64::from(page) * 100 >= total {
            return Ok(result);
        }
        page += 1;
    }
}

/// The periodic prober. Supervised; a panic inside a sweep is caught and logged, so one
/// bad stream cannot stop health checks for good.
pub struct StreamHealth {
    core: Core,
    settings: StreamHealthSettings,
    client: reqwest::Client,
    sweeping: bool,
}

impl StreamHealth {
    pub fn new(core: Core, settings: StreamHealthSettings) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            core,
            settings,
            client,
            sweeping: false,
        }
    }

    fn start_sweep(&mut self, ctx: &mut Context<Self>) {
        if self.sweeping {
            return;
        }
        self.sweeping = true;
        let (core, client, settings) = (
            self.core.clone(),
            self.client.clone(),
            self.settings.clone(),
        );
        let work = async move {
            AssertUnwindSafe(sweep(&core, &client, &settings))
                .catch_unwind()
                .await
        };
        ctx.spawn(work.into_actor(self).map(|outcome, act, _| {
            act.sweeping = false;
            match outcome {
                Ok(Ok(s)) => tracing::debug!(
                    checked = s.checked,
                    online = s.online,
                    changed = s.changed,
                    "stream health sweep"
                ),
                Ok(Err(e)) => tracing::warn!(error = %e, "stream health sweep failed"),
                Err(_) => tracing::error!("stream health sweep panicked"),
            }
        }));
    }
}

impl Actor for StreamHealth {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.start_sweep(ctx);
        ctx.run_interval(self.settings.interval, |act, ctx| act.start_sweep(ctx));
    }
}

impl Supervised for StreamHealth {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.sweeping = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_come_from_the_url_with_scheme_defaults() {
        assert_eq!(
            host_port("rtsp://u:p@10.0.0.5/live"),
            Some(("10.0.0.5".into(), 554))
        );
        assert_eq!(host_port("rtmp://cam:1936/app"), Some(("cam".into(), 1936)));
        assert_eq!(
            host_port("https://cam.local/x.m3u8"),
            Some(("cam.local".into(), 443))
        );
        assert_eq!(host_port("rtsp://[::1]:8554/s"), Some(("::1".into(), 8554)));
        assert_eq!(host_port("rtsp://host:notaport/"), None);
        assert_eq!(host_port("no scheme"), None);
    }
}
