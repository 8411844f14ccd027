//! # cctv-metrics
//!
//! The process's Prometheus metrics: what it accepted, processed, refused and sent, how
//! its HTTP routes answer, and how deep its queues are. The metric names and labels are
//! what the shipped Grafana dashboard (`contrib/grafana-dashboard.json`) queries.
//!
//! One [`Metrics`] lives in the `cctv_core::Core` (`Core::metrics`), so every place that does the work
//! counts it — the accept use case, the processing workers, the notification service, the
//! HTTP layer — and an embedder without HTTP gets the same figures. Counters only go up
//! and count events of this process; Prometheus sums them over nodes.
//!
//! Labels are bounded by construction: routes are templates (`/api/v1/person/:re_id`,
//! never a raw path), reasons are error codes, queues and channels are closed sets or
//! configured names.

use std::fmt;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, prometheus_text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;
type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// An answered request's counter series. Typed labels, because every request is
/// counted: a label vector cost two vectors and five strings a request (with their
/// hashing about 4,400 instructions, callgrind); these copy the route and nothing else.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

/// An answered request's latency series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: &'static str,
}

/// The method as a label: methods outside the usual set are one label, `other`, not one
/// each, so a client cannot grow the label set.
fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    KNOWN
        .into_iter()
        .find(|known| *known == method)
        .unwrap_or("other")
}

fn latency_histogram() -> Histogram {
    // 0.5 ms … ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The metrics of one process; see the [module docs](self).
pub struct Metrics {
    registry: Registry,
    backend: String,
    /// This backend's series, looked up once: the ingest path only adds to them.
    accepted: Counter,
    processed: Counter,
    rejected: Family<Labels, Counter>,
    http_requests: Family<RequestLabels, Counter>,
    http_duration: HistogramFamily,
    queue_depth: Family<Labels, Gauge>,
    jobs_failed: Family<Labels, Counter>,
    notifications: Family<Labels, Counter>,
    commit_batch: Histogram,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// A fresh registry; `backend` labels the detection counters (`sqlite`, `postgres`).
    pub fn new(backend: &str) -> Self {
        let mut registry = Registry::default();
        let accepted = Family::<Labels, Counter>::default();
        let processed = Family::<Labels, Counter>::default();
        let rejected = Family::<Labels, Counter>::default();
        let http_requests = Family::<RequestLabels, Counter>::default();
        let http_duration: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let queue_depth = Family::<Labels, Gauge>::default();
        let jobs_failed = Family::<Labels, Counter>::default();
        let notifications = Family::<Labels, Counter>::default();
        let commit_batch = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        registry.register(
            "cctv_detections_accepted",
            "Detections accepted (made durable) by this process; a retried request is not counted again",
            accepted.clone(),
        );
        let labels: Labels = vec![("backend", backend.to_owned())];
        let accepted_series = accepted.get_or_create(&labels).clone();
        let processed_series = processed.get_or_create(&labels).clone();
        registry.register(
            "cctv_detections_processed",
            "Detections processed (counted into person-days) by this process",
            processed.clone(),
        );
        registry.register(
            "cctv_detections_rejected",
            "Detection requests, and items of batch uploads, refused, by reason",
            rejected.clone(),
        );
        registry.register(
            "cctv_http_requests",
            "HTTP requests answered, by route template, method and status",
            http_requests.clone(),
        );
        registry.register(
            "cctv_http_request_duration_seconds",
            "Time from request to response, by route template and method",
            http_duration.clone(),
        );
        registry.register(
            "cctv_queue_depth",
            "Jobs waiting in each queue (queued, due or waiting for a retry), read at scrape time",
            queue_depth.clone(),
        );
        registry.register(
            "cctv_jobs_failed",
            "Jobs that used up their attempts and moved to failed jobs, by queue",
            jobs_failed.clone(),
        );
        registry.register(
            "cctv_notifications",
            "Notification sends, by channel and result (sent, failed, rejected, suppressed)",
            notifications.clone(),
        );
        registry.register(
            "cctv_ingest_commit_batch_size",
            "Detections made durable per group commit",
            commit_batch.clone(),
        );
        registry.register(
            "cctv_build",
            "The running version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION").to_owned())]),
        );
        Self {
            registry,
            backend: backend.to_owned(),
            accepted: accepted_series,
            processed: processed_series,
            rejected,
            http_requests,
            http_duration,
            queue_depth,
            jobs_failed,
            notifications,
            commit_batch,
        }
    }

    pub fn detections_accepted(&self, n: u64) {
        self.accepted.inc_by(n);
    }

    pub fn detections_processed(&self, n: u64) {
        self.processed.inc_by(n);
    }

    /// `reason`: the error code the client saw (`VALIDATION_ERROR`, `RATE_LIMIT_EXCEEDED`…),
    /// written in lower case.
    pub fn detection_rejected(&self, reason: &str, n: u64) {
        self.rejected
            .get_or_create(&vec![("reason", reason.to_ascii_lowercase())])
            .inc_by(n);
    }

    /// One answered request; `route` must be a template, never a raw path. Methods
    /// outside GET, HEAD, POST, PUT, PATCH, DELETE and OPTIONS are counted as `other`.
    pub fn http_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let route = RouteLabels {
            route: route.to_owned(),
            method: method_label(method),
        };
        self.http_duration
            .get_or_create(&route)
            .observe(elapsed.as_secs_f64());
        self.http_requests
            .get_or_create(&RequestLabels {
                route: route.route,
                method: route.method,
                status,
            })
            .inc();
    }

    pub fn queue_depth(&self, queue: &str, depth: u64) {
        self.queue_depth
            .get_or_create(&vec![("queue", queue.to_owned())])
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    pub fn job_failed(&self, queue: &str) {
        self.jobs_failed
            .get_or_create(&vec![("queue", queue.to_owned())])
            .inc();
    }

    pub fn notification(&self, channel: &str, result: &str) {
        self.notifications
            .get_or_create(&vec![
                ("channel", channel.to_owned()),
                ("result", result.to_owned()),
            ])
            .inc();
    }

    pub fn commit_batch(&self, size: usize) {
        self.commit_batch.observe(size as f64);
    }

    /// Everything in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped Grafana dashboard only queries metrics this registry exports.
    #[test]
    fn the_grafana_dashboard_queries_exported_metrics_only() {
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../../../contrib/grafana-dashboard.json")).unwrap();
        let m = Metrics::new("sqlite");
        m.detections_accepted(1);
        m.detections_processed(1);
        m.detection_rejected("x", 1);
        m.http_request("/", "GET", 200, Duration::ZERO);
        m.queue_depth("detections", 0);
        m.job_failed("detections");
        m.notification("log", "sent");
        m.commit_batch(1);
        let exported = m.render();
        let mut queried = 0;
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().unwrap() {
                let expr = target["expr"].as_str().unwrap();
                for name in expr
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .filter(|w| w.starts_with("cctv_"))
                {
                    queried += 1;
                    assert!(
                        exported.lines().any(|l| l.starts_with(&format!("{name}{{"))
                            || l.starts_with(&format!("{name} "))),
                        "the dashboard queries {name}, which /metrics does not export"
                    );
                }
            }
        }
        assert!(queried >= 9, "{queried}");
    }

    #[test]
    fn counters_histograms_and_the_version_are_rendered() {
        let m = Metrics::new("sqlite");
        m.detections_accepted(3);
        m.detection_rejected("VALIDATION_ERROR", 2);
        m.http_request(
            "/api/v1/person/:re_id",
            "GET",
            200,
            Duration::from_millis(3),
        );
        m.http_request("/api/v1/person/:re_id", "BREW", 418, Duration::ZERO);
        m.commit_batch(64);
        let text = m.render();
        for line in [
            "cctv_detections_accepted_total{backend=\"sqlite\"} 3",
            "cctv_detections_rejected_total{reason=\"validation_error\"} 2",
            "cctv_http_requests_total{route=\"/api/v1/person/:re_id\",method=\"GET\",status=\"200\"} 1",
            "cctv_http_request_duration_seconds_count{route=\"/api/v1/person/:re_id\",method=\"GET\"} 1",
            "cctv_http_requests_total{route=\"/api/v1/person/:re_id\",method=\"other\",status=\"418\"} 1",
            "cctv_ingest_commit_batch_size_count 1",
            &format!(
                "cctv_build_info{{version=\"{}\"}} 1",
                env!("CARGO_PKG_VERSION")
            ),
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
