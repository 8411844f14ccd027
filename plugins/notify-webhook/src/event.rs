//! The HTTP side of event webhooks (see [`cctv_admin::notify::webhook`]): `cctv-admin` builds
//! and signs each request; this sends it with the three `webhook-*` headers and maps the
//! answer like every HTTP notifier (`Retry-After` included).

use std::time::Duration;

use async_trait::async_trait;
use cctv_admin::notify::webhook::{WebhookRequest, WebhookTransport};
use cctv_admin::notify::{Delivery, NotifierConfigError, NotifyError};

/// Sends event webhooks over HTTP; one client (connection pool) for every endpoint.
#[derive(Debug, Clone)]
pub struct HttpWebhookTransport {
    http: reqwest::Client,
}

impl HttpWebhookTransport {
    /// `timeout` bounds each request (connect included).
    pub fn new(timeout: Duration) -> Result<Self, NotifierConfigError> {
        Ok(Self {
            http: cctv_notify_http::client("event_webhook", timeout)?,
        })
    }
}

#[async_trait]
impl WebhookTransport for HttpWebhookTransport {
    #[tracing::instrument(skip_all, fields(id = %request.id))]
    async fn post(&self, request: &WebhookRequest) -> Result<Delivery, NotifyError> {
        let url = reqwest::Url::parse(&request.url).map_err(|e| {
            NotifyError::rejected(Some("bad_url".into()), format!("endpoint URL: {e}"))
        })?;
        let request = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &request.id)
            .header("webhook-timestamp", request.timestamp.to_string())
            .header("webhook-signature", &request.signature)
            .body(request.body.clone());
        let answer = cctv_notify_http::execute(request).await?;
        Ok(Delivery::sent(
            cctv_notify_http::id_at(&answer.json, "/id"),
            answer.elapsed,
        ))
    }
}
