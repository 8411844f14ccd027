//! # cctv-http
//!
//! The salvo layer of cctv: the device API v1 (wire-compatible with the original fleet),
//! `GET /health`, and the JSON envelope every response uses. Handlers are thin: they parse
//! and validate, call `cctv-core` (and the ingest sink), and map errors in one place
//! ([`envelope`]). [`streams`] plays cameras through the server's proxy or a gateway, so
//! camera credentials never reach a browser.
//!
//! ```no_run
//! # async fn demo(state: std::sync::Arc<cctv_http::AppState>) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! cctv_http::serve(listener, state, std::future::pending()).await
//! # }
//! ```

pub mod access_log;
pub mod analytics;
pub mod auth;
mod body_shape;
pub mod device;
pub mod envelope;
mod extract;
pub mod files;
pub mod health;
pub mod manage;
pub mod metrics;
pub mod openapi;
pub mod params;
#[cfg(test)]
mod props;
pub mod reports;
mod route;
mod security_headers;
pub mod streams;
pub mod web;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use cctv_admin::manage::{ManageSettings, Manager};
use cctv_core::Core;
use cctv_core::ingest::IngestSink;
use salvo::conn::tcp::TcpAcceptor;
use salvo::http::header::HeaderValue;
use salvo::{Depot, FlowCtrl, Handler, Request, Response, Router, Server, Service, async_trait};

use crate::envelope::RequestMeta;

/// Limits of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest JSON body.
    pub max_json_bytes: usize,
    /// Largest multipart body (a 10 MB image plus fields).
    pub max_multipart_bytes: usize,
    /// Browser origins besides the server's own (`https://console.example`) whose pages
    /// may open `/ws` with a session cookie.
    pub allowed_origins: Vec<String>,
    /// Bearer token for `GET /metrics` from other hosts than this one; `None`: loopback only.
    pub metrics_token: Option<String>,
    /// Days looked back for a returning visitor (visitor analytics).
    pub analytics_lookback_days: u32,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            max_json_bytes: 1024 * 1024,
            max_multipart_bytes: 12 * 1024 * 1024,
            allowed_origins: Vec::new(),
            metrics_token: None,
            analytics_lookback_days: cctv_admin::analytics::DEFAULT_LOOKBACK_DAYS,
        }
    }
}

/// What every handler works with.
#[derive(Debug)]
pub struct AppState {
    pub core: Core,
    pub ingest: Arc<dyn IngestSink>,
    pub manage: Manager,
    pub settings: HttpSettings,
    /// Signing of file URLs (`/storage/file`); a per-process key unless configured.
    pub files: files::FileAccess,
    /// The `/api` access log, when enabled.
    pub access_log: Option<access_log::AccessLog>,
    /// Set when the server begins to stop: `/readyz` answers 503 from then on.
    pub stopping: std::sync::atomic::AtomicBool,
    /// The stream proxy and gateway (live view).
    pub streams: streams::StreamService,
}

impl AppState {
    pub fn new(
        core: Core,
        ingest: Arc<dyn IngestSink>,
        manage: ManageSettings,
        settings: HttpSettings,
    ) -> Self {
        Self {
            manage: Manager::new(core.clone(), manage),
            core,
            ingest,
            settings,
            files: files::FileAccess::default(),
            access_log: None,
            stopping: std::sync::atomic::AtomicBool::new(false),
            streams: streams::StreamService::default(),
        }
    }

    /// Counts login failures across every node sharing `attempts` (several nodes on one
    /// database), besides this process's own throttle.
    pub fn with_shared_login_attempts(
        mut self,
        attempts: Arc<dyn cctv_admin::access::SharedLoginAttempts>,
    ) -> Self {
        self.manage = self.manage.with_shared_attempts(attempts);
        self
    }

    /// Logs every `/api` request through `log`.
    pub fn with_access_log(mut self, log: access_log::AccessLog) -> Self {
        self.access_log = Some(log);
        self
    }

    /// Uses `settings` for the stream proxy and the gateway.
    pub fn with_streams(mut self, settings: streams::StreamSettings) -> Self {
        self.streams = streams::StreamService::new(settings);
        self
    }

    /// Uses `files` (the configured signing key) for file URLs.
    pub fn with_file_access(mut self, files: files::FileAccess) -> Self {
        self.files = files;
        self
    }
}

/// The state of the current request (injected by the router's first hoop).
pub(crate) fn state(depot: &Depot) -> Arc<AppState> {
    depot
        .get_typed::<Arc<AppState>>()
        .expect("AppState is injected by the router")
        .clone()
}

/// Injects the state and the request meta, and echoes the request id.
struct Prelude(Arc<AppState>);

#[async_trait]
impl Handler for Prelude {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        let meta = RequestMeta::from_request(req);
        if let Ok(v) = HeaderValue::from_str(&meta.request_id) {
            res.headers_mut().insert("x-request-id", v);
        }
        depot.insert_typed(self.0.clone());
        depot.insert_typed(meta);
        ctrl.call_next(req, depot, res).await;
    }
}

/// All routes, with the hoops every request passes through.
pub fn router(state: Arc<AppState>) -> Router {
    routes()
        .hoop(Prelude(state))
        .hoop(metrics::MetricsHoop)
        .hoop(access_log::AccessLogHoop)
        .hoop(security_headers::SecurityHeaders)
}

/// The route tree alone (the API reference's coverage test walks it).
///
/// The fleet's two ingest routes come first: salvo tries routes in order, and every
/// detection walked the whole management tree before reaching its handler (about 28,000
/// instructions a request, callgrind: a quarter of the HTTP side's work). No other route
/// takes their method and path, so the order changes no answer.
pub(crate) fn routes() -> Router {
    use device::{batch, query, upload};
    Router::new()
        .push(Router::with_path("api/v1/detection/log").post(upload::log_detection))
        .push(Router::with_path("api/v1/detection/batch").post(batch::batch_detections))
        .push(Router::with_path("health").get(health::health))
        .push(Router::with_path("livez").get(health::livez))
        .push(Router::with_path("readyz").get(health::readyz))
        .push(Router::with_path("metrics").get(metrics::metrics))
        .push(Router::with_path("storage/file").get(files::storage_file))
        .push(
            Router::with_path("api")
                .push(manage::account_routes())
                .push(openapi::routes()),
        )
        .push(
            Router::with_path("api/v1")
                .push(manage::resource_routes())
                .push(streams::routes())
                .push(reports::routes())
                .push(analytics::routes())
                .push(Router::with_path("detection/status/{job_id}").get(query::job_status))
                .push(Router::with_path("detection/summary").get(query::summary))
                .push(Router::with_path("detections").get(query::list_detections))
                .push(Router::with_path("person/{re_id}/detections").get(query::person_detections))
                .push(Router::with_path("person/{re_id}").get(query::person))
                .push(Router::with_path("branch/{id}/detections").get(query::branch_detections))
                .push(Router::with_path("api-credentials/{id}/test").get(query::credential_test)),
        )
        .push(web::routes())
        .push(Router::with_path("{**rest}").goal(health::not_found))
}

/// Serves until `shutdown` resolves, then drains connections (up to 10 s).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = TcpAcceptor::try_from(listener)?;
    let server = Server::new(acceptor);
    let handle = server.handle();
    let stopping = state.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopping
            .stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
        handle.stop_graceful(Duration::from_secs(10));
    });
    server.serve(Service::new(router(state))).await;
    Ok(())
}
