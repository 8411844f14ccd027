//! `spawn_app()`: the real stack on port 0 with a fresh database, and a small HTTP client.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cctv_actors::{Pipeline, PipelineSettings};
use cctv_admin::AdminBuilder;
use cctv_admin::FullStorage;
use cctv_admin::manage::ManageSettings;
use cctv_blob_fs::FsBlobStore;
use cctv_core::Core;
use cctv_core::credential::{GeneratedSecret, NewCredential, Permissions, hash_secret};
use cctv_http::{AppState, HttpSettings};
use cctv_storage_postgres::{PgSettings, PgStore};
use cctv_storage_sqlite::{SqliteSettings, SqliteStore};
use cctv_testkit::{Estate, seed};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use serde_json::Value;
use tokio::net::TcpStream;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backends to run a test on: SQLite always, PostgreSQL when `CCTV_TEST_PG_URL` is set.
pub fn backends() -> Vec<Backend> {
    let mut b = vec![Backend::Sqlite];
    if std::env::var("CCTV_TEST_PG_URL").is_ok() {
        b.push(Backend::Postgres);
    } else {
        eprintln!("CCTV_TEST_PG_URL is not set: PostgreSQL variant skipped");
    }
    b
}

pub struct TestApp {
    pub addr: String,
    pub core: Core,
    pub estate: Estate,
    pub key: String,
    pub secret: String,
    pub dir: tempfile::TempDir,
    /// Signs `/storage/file` URLs with the server's key.
    pub signer: cctv_admin::files::UrlSigner,
    pipeline: Option<Pipeline>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, AppOptions::default()).await
}

/// Settings a test may change.
pub struct AppOptions {
    pub timezone: cctv_core::jiff::tz::TimeZone,
    pub queue_alert_threshold: u64,
    pub detection_rules: cctv_core::detection::DetectionRules,
    /// Browser origins besides the server's own that may open `/ws` with a cookie.
    pub allowed_origins: Vec<String>,
    /// The stream proxy's limits and the gateway.
    pub streams: cctv_http::streams::StreamSettings,
    /// The image store; `None`: a directory in the test's data directory.
    pub blobs: Option<Arc<dyn cctv_core::blob::BlobStore>>,
    /// Notification channels (none by default).
    pub notifiers: Vec<Arc<dyn cctv_admin::notify::Notifier>>,
    /// Whether scheduled tasks run (a test counting queued jobs turns them off).
    pub scheduled_tasks: bool,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            timezone: cctv_core::jiff::tz::TimeZone::UTC,
            queue_alert_threshold: cctv_admin::queue_ops::DEFAULT_ALERT_THRESHOLD,
            // Report fixtures post detections on fixed dates: far in the past is fine here
            // (the default bound has its own test).
            detection_rules: cctv_core::detection::DetectionRules {
                max_past_age: cctv_core::jiff::SignedDuration::from_hours(24 * 3650),
                ..Default::default()
            },
            allowed_origins: Vec::new(),
            streams: Default::default(),
            blobs: None,
            notifiers: Vec::new(),
            scheduled_tasks: true,
        }
    }
}

pub async fn spawn_app_with(backend: Backend, options: AppOptions) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn FullStorage> = match backend {
        Backend::Sqlite => {
            let mut s = SqliteSettings::new(dir.path().join("cctv.db"));
            s.fsync_every_commit = false;
            Arc::new(SqliteStore::open(&s).await.unwrap())
        }
        Backend::Postgres => {
            let mut s = PgSettings::new(std::env::var("CCTV_TEST_PG_URL").unwrap());
            s.schema = Some(format!("t_{}", uuid::Uuid::new_v4().simple()));
            s.max_connections = 8;
            Arc::new(PgStore::open(&s).await.unwrap())
        }
    };
    let estate = seed(storage.as_ref()).await;
    let generated = GeneratedSecret::generate();
    storage
        .create_credential(&NewCredential {
            name: "test".into(),
            api_key: generated.api_key.clone(),
            secret_hash: hash_secret(&generated.api_secret),
            branch_id: None,
            device_id: None,
            permissions: Permissions::default(),
            rate_limit: 1_000_000,
            expires_at: None,
        })
        .await
        .unwrap();
    let blobs = match options.blobs {
        Some(blobs) => blobs,
        None => Arc::new(FsBlobStore::new(dir.path().join("storage")).unwrap()),
    };
    let mut builder = Core::builder();
    for notifier in options.notifiers {
        builder = builder.notifier(notifier);
    }
    let core = builder
        .full_storage(storage)
        .blob_store(blobs)
        .webhook_transport(webhook_transport())
        .image_processor(Arc::new(cctv_image::EventImageProcessor::default()))
        .settings(cctv_core::CoreSettings {
            timezone: options.timezone,
            detection_rules: options.detection_rules,
            ..Default::default()
        })
        .admin_settings(cctv_admin::AdminSettings {
            queue_alert_threshold: options.queue_alert_threshold,
            schedule: if options.scheduled_tasks {
                cctv_admin::AdminSettings::default().schedule
            } else {
                Vec::new()
            },
            ..Default::default()
        })
        .build()
        .await
        .unwrap();
    let defaults = PipelineSettings::default();
    let settings = PipelineSettings {
        ingest: cctv_actors::IngestPipeline {
            poll_interval: Duration::from_millis(50),
            workers: if backend == Backend::Postgres { 4 } else { 2 },
            ..defaults.ingest
        },
        queues: cctv_actors::QueueWorkers {
            monitor_interval: Duration::from_millis(100),
            ..defaults.queues
        },
        node: cctv_actors::NodeSettings {
            release_all_leases_on_start: backend == Backend::Sqlite,
            ..defaults.node
        },
        ..defaults
    };
    let pipeline = Pipeline::start(core.clone(), settings).await.unwrap();
    let files = cctv_http::files::FileAccess::default();
    let signer = files.signer.clone();
    let state = Arc::new(
        AppState::new(
            core.clone(),
            pipeline.ingest(),
            ManageSettings::default(),
            HttpSettings {
                allowed_origins: options.allowed_origins,
                ..HttpSettings::default()
            },
        )
        .with_file_access(files)
        .with_streams(options.streams)
        .with_access_log(
            cctv_http::access_log::AccessLog::start(
                dir.path().join("logs"),
                core.timezone().clone(),
            )
            .0,
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(cctv_http::serve(listener, state, async move {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        core,
        estate,
        key: generated.api_key,
        secret: generated.api_secret,
        dir,
        signer,
        pipeline: Some(pipeline),
        shutdown: Some(tx),
    }
}

/// Event webhooks over HTTP, as the binary sends them (2 s timeout).
pub fn webhook_transport() -> Arc<dyn cctv_admin::notify::webhook::WebhookTransport> {
    Arc::new(cctv_notify_webhook::HttpWebhookTransport::new(Duration::from_secs(2)).unwrap())
}

/// Verifies a request the Standard Webhooks way, written here from the specification
/// (not with the code under test): `webhook-signature` holds `v1,<base64>` entries, each
/// HMAC-SHA256 over `id.timestamp.body` with the base64-decoded secret after `whsec_`; the
/// timestamp must be within 5 minutes of now. Returns why it fails, if it does.
pub fn verify_standard_webhook(
    secret: &str,
    headers: &std::collections::HashMap<String, String>,
    body: &[u8],
) -> Result<(), String> {
    use base64::Engine as _;
    use hmac::Mac as _;
    let header = |n: &str| headers.get(n).ok_or(format!("no {n} header"));
    let (id, timestamp, signatures) = (
        header("webhook-id")?,
        header("webhook-timestamp")?,
        header("webhook-signature")?,
    );
    let at: i64 = timestamp.parse().map_err(|_| "timestamp not a number")?;
    let now = cctv_core::jiff::Timestamp::now().as_second();
    if (now - at).abs() > 300 {
        return Err(format!("timestamp {at} is {}s from now", now - at));
    }
    let key = base64::engine::general_purpose::STANDARD
        .decode(
            secret
                .strip_prefix("whsec_")
                .ok_or("secret without whsec_")?,
        )
        .map_err(|e| e.to_string())?;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    if signatures
        .split(' ')
        .any(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
    {
        Ok(())
    } else {
        Err(format!("no signature matches: {signatures}"))
    }
}

/// A response: status, headers (lower-case names) and the JSON body.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Value,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

pub async fn send(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Resp {
    try_send(addr, method, path, headers, body)
        .await
        .expect("request failed")
}

/// Like [`send`], but a transport failure (server down) is an `Err`.
pub async fn try_send(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<Resp, Box<dyn std::error::Error + Send + Sync>> {
    let stream = TcpStream::connect(addr).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(body)))?)
        .await?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let bytes = resp.into_body().collect().await?.to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok(Resp {
        status,
        headers,
        body,
    })
}

impl TestApp {
    pub fn auth(&self) -> Vec<(&str, &str)> {
        vec![
            ("x-api-key", self.key.as_str()),
            ("x-api-secret", self.secret.as_str()),
        ]
    }

    /// Posts a multipart detection (text fields and an optional file part).
    pub async fn post_multipart(
        &self,
        fields: &[(&str, &str)],
        file: Option<(&str, &str, &[u8])>,
    ) -> Resp {
        let (content_type, body) = multipart(fields, file);
        let mut h = self.auth();
        h.push(("content-type", &content_type));
        send(&self.addr, "POST", "/api/v1/detection/log", &h, body).await
    }

    pub async fn post_json(&self, body: &Value) -> Resp {
        let mut h = self.auth();
        h.push(("content-type", "application/json"));
        send(
            &self.addr,
            "POST",
            "/api/v1/detection/log",
            &h,
            serde_json::to_vec(body).unwrap(),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Resp {
        send(&self.addr, "GET", path, &self.auth(), Vec::new()).await
    }

    /// Polls the status endpoint until the job is completed.
    pub async fn wait_completed(&self, job_id: &str) -> Resp {
        for _ in 0..500 {
            let r = self
                .get(&format!("/api/v1/detection/status/{job_id}"))
                .await;
            if r.body["data"]["status"] == "completed" || r.body["data"]["status"] == "failed" {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("job {job_id} did not complete");
    }

    pub async fn detections_total(&self) -> u64 {
        self.get("/api/v1/detections?per_page=1").await.body["pagination"]["total"]
            .as_u64()
            .unwrap()
    }

    /// The pipeline's ingest sink (jobs submitted here skip the HTTP layer's validation).
    pub fn ingest(&self) -> Arc<dyn cctv_core::ingest::IngestSink> {
        self.pipeline.as_ref().expect("running").ingest()
    }

    /// Another API credential (optionally limited to a branch); returns key, secret, id.
    pub async fn credential(
        &self,
        rate_limit: u32,
        branch: Option<i64>,
        expires: Option<&str>,
    ) -> (String, String, i64) {
        let g = GeneratedSecret::generate();
        let c = self
            .core
            .storage()
            .create_credential(&NewCredential {
                name: "extra".into(),
                api_key: g.api_key.clone(),
                secret_hash: hash_secret(&g.api_secret),
                branch_id: branch,
                device_id: None,
                permissions: Permissions::default(),
                rate_limit,
                expires_at: expires.map(|e| e.parse().unwrap()),
            })
            .await
            .unwrap();
        self.core.reload_caches().await.unwrap();
        (g.api_key, g.api_secret, c.id)
    }

    /// Posts a JSON detection with another credential.
    pub async fn post_json_as(&self, key: &str, secret: &str, body: &Value) -> Resp {
        send(
            &self.addr,
            "POST",
            "/api/v1/detection/log",
            &[
                ("x-api-key", key),
                ("x-api-secret", secret),
                ("content-type", "application/json"),
            ],
            serde_json::to_vec(body).unwrap(),
        )
        .await
    }

    pub fn branch(&self, n: usize) -> i64 {
        self.estate.branches[n].id
    }

    pub fn device(&self, n: usize) -> &str {
        &self.estate.devices[n].device_id
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(p) = self.pipeline.take() {
            p.shutdown().await;
        }
    }
}

/// A multipart/form-data body with text fields and one file part.
pub fn multipart(fields: &[(&str, &str)], file: Option<(&str, &str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "----cctvtestboundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some((name, filename, bytes)) = file {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: image/jpeg\r\n\r\n")
                .as_bytes(),
        );
        body.extend(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A real 2×1 PNG, encoded by hand (zlib stored block, correct CRCs).
pub fn png_2x1() -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for b in bytes {
            crc ^= u32::from(*b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn adler32(bytes: &[u8]) -> u32 {
        let (mut a, mut b) = (1u32, 0u32);
        for x in bytes {
            a = (a + u32::from(*x)) % 65521;
            b = (b + a) % 65521;
        }
        (b << 16) | a
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let mut c = kind.to_vec();
        c.extend(data);
        out.extend(&c);
        out.extend(crc32(&c).to_be_bytes());
    }
    let raw = [0u8, 255, 0, 0, 0, 0, 255]; // filter byte + two RGB pixels
    let mut zlib = vec![0x78, 0x01, 0x01];
    zlib.extend((raw.len() as u16).to_le_bytes());
    zlib.extend((!(raw.len() as u16)).to_le_bytes());
    zlib.extend(raw);
    zlib.extend(adler32(&raw).to_be_bytes());
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(2u32.to_be_bytes());
    ihdr.extend(1u32.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &zlib);
    chunk(&mut png, b"IEND", &[]);
    png
}

/// A raw response: status, every header (in order, repeated ones kept) and the body text.
pub struct RawResp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `name=value` pairs of every `Set-Cookie`.
    pub fn cookies(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .filter_map(|(_, v)| {
                v.split(';')
                    .next()?
                    .split_once('=')
                    .map(|(a, b)| (a.to_owned(), b.to_owned()))
            })
            .collect()
    }
}

pub async fn send_raw(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> RawResp {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    RawResp {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}
