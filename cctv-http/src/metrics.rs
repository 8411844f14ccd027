//! `GET /metrics` (the Prometheus text format) and the hoop that counts every HTTP answer.
//!
//! Who may scrape: anyone connecting from loopback (a Prometheus or agent on the same
//! host), and anyone else with `Authorization: Bearer <metrics.token>` when a token is
//! configured, or with an admin's personal access token with the `metrics:read` scope; without
//! one, other addresses get 403. The peer address is the TCP peer, never a forwarded
//! header a client could write; and a loopback request that
//! carries a forwarding header (`Forwarded`, `X-Forwarded-For`, `X-Real-IP`) came through a
//! reverse proxy on this host, so it needs the token like any remote client.
//!
//! Requests are labelled with their route template (`/api/v1/person/:re_id`): the path
//! with each matched parameter put back as `:name` (the common form in Prometheus labels;
//! braces trip some text parsers). Paths no route knows are labelled `unmatched`, so a
//! scanner cannot grow the label set.

use std::time::Instant;

use salvo::http::StatusCode;
use salvo::http::header::{CONTENT_TYPE, HeaderValue};
use salvo::{Depot, FlowCtrl, Handler, Request, Response, async_trait, handler};
use subtle::ConstantTimeEq;

use crate::envelope::{ApiError, respond};
use crate::state;
use cctv_admin::AdminCore;

/// Counts each answer with its route, method, status and time.
pub(crate) struct MetricsHoop;

#[async_trait]
impl Handler for MetricsHoop {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        let started = Instant::now();
        ctrl.call_next(req, depot, res).await;
        let route = route_label(req, depot);
        let status = res.status_code.unwrap_or(StatusCode::OK).as_u16();
        state(depot).core.metrics().http_request(
            &route,
            req.method().as_str(),
            status,
            started.elapsed(),
        );
    }
}

/// The route label: the template with parameters as `:name` and a leading `/`;
/// `unmatched` for the catch-all.
fn route_label(req: &Request, depot: &mut Depot) -> String {
    let Some(template) = crate::route::template(req, depot) else {
        return "unmatched".into();
    };
    let mut label = String::with_capacity(template.len() + 1);
    for segment in template.split('/') {
        label.push('/');
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => {
                label.push(':');
                label.push_str(name);
            }
            None => label.push_str(segment),
        }
    }
    label
}

/// Whether this request may read the metrics.
fn allowed(req: &Request, token: Option<&str>) -> bool {
    let loopback = req
        .remote_addr()
        .clone()
        .into_std()
        .is_some_and(|a| a.ip().is_loopback());
    let proxied = ["forwarded", "x-forwarded-for", "x-real-ip"]
        .iter()
        .any(|h| req.headers().contains_key(*h));
    if loopback && !proxied {
        return true;
    }
    let Some(token) = token else {
        return false;
    };
    let sent = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    bool::from(sent.as_bytes().ct_eq(token.as_bytes()))
}

/// An admin's personal access token with the `metrics:read` scope may scrape from
/// anywhere; a login token may not (it is not meant to sit in a scraper's config).
async fn personal_token_allows(state: &crate::AppState, req: &Request) -> bool {
    let Some(header) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    if !header.contains('|') {
        return false;
    }
    match state.manage.authenticate(header).await {
        // The metrics cover every branch: an admin's token only.
        Ok(who) => {
            who.is_admin()
                && who
                    .scopes
                    .is_some_and(|s| s.contains(&cctv_admin::access::TokenScope::MetricsRead))
        }
        Err(_) => false,
    }
}

#[handler]
pub async fn metrics(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    if !allowed(req, state.settings.metrics_token.as_deref())
        && !personal_token_allows(&state, req).await
    {
        let message = if state.settings.metrics_token.is_some() {
            "Metrics need the bearer token set in [metrics]"
        } else {
            "Metrics are served to loopback only (set a token in [metrics] to scrape from elsewhere)"
        };
        respond(res, depot, Err(ApiError::Forbidden(message.into())));
        return;
    }
    let core = &state.core;
    // Queue depths are read now, so a scrape sees the database's figures, shared by all
    // nodes (each node reports the same depth; aggregate with max, not sum).
    let depths = match core.queue_admin() {
        Ok(queues) => queues.queue_stats(jiff::Timestamp::now()).await,
        Err(e) => Err(e),
    };
    match depths {
        Ok(stats) => {
            for s in stats {
                core.metrics().queue_depth(s.queue.as_str(), s.pending);
            }
        }
        Err(e) => tracing::warn!(error = %e, "reading queue depths for /metrics failed"),
    }
    res.status_code(StatusCode::OK);
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(cctv_metrics::CONTENT_TYPE),
    );
    res.body(core.metrics().render());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(peer: &str, bearer: Option<&str>) -> Request {
        let mut req = Request::new();
        let peer: std::net::SocketAddr = peer.parse().unwrap();
        *req.remote_addr_mut() = peer.into();
        if let Some(token) = bearer {
            req.headers_mut().insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
            );
        }
        req
    }

    #[test]
    fn loopback_scrapes_freely_and_other_hosts_need_the_token() {
        let token = Some("a-long-metrics-token");
        for peer in ["127.0.0.1:5000", "[::1]:5000"] {
            assert!(allowed(&request(peer, None), None), "{peer}");
            assert!(allowed(&request(peer, None), token), "{peer}");
        }
        let far = "10.1.2.3:5000";
        assert!(!allowed(&request(far, None), None), "no token configured");
        assert!(!allowed(&request(far, Some("a-long-metrics-token")), None));
        assert!(!allowed(&request(far, None), token), "no token sent");
        assert!(!allowed(&request(far, Some("a-long-metrics-tokeN")), token));
        assert!(!allowed(&request(far, Some("a-long")), token));
        assert!(allowed(&request(far, Some("a-long-metrics-token")), token));

        // Through a reverse proxy on this host: loopback peer, but a client elsewhere.
        for header in ["x-forwarded-for", "forwarded", "x-real-ip"] {
            let mut proxied = request("127.0.0.1:5000", None);
            proxied
                .headers_mut()
                .insert(header, HeaderValue::from_static("203.0.113.9"));
            assert!(!allowed(&proxied, None), "{header}");
            assert!(!allowed(&proxied, token), "{header} without the token");
            proxied.headers_mut().insert(
                "authorization",
                HeaderValue::from_static("Bearer a-long-metrics-token"),
            );
            assert!(allowed(&proxied, token), "{header} with the token");
        }
    }
}
