//! Response headers every answer carries, set once after the handler ran.
//!
//! - Every response: `X-Content-Type-Options: nosniff`, so a JSON body, a stylesheet or
//!   a stored file is never run as something else.
//! - HTML pages: `Cache-Control: no-store` (pages hold personal data and CSRF tokens;
//!   a shared computer's back button or a proxy must not show them again), a
//!   `Content-Security-Policy` that also forbids framing (`frame-ancestors 'none'`, and
//!   `X-Frame-Options: DENY` for older browsers), and `Referrer-Policy: same-origin`
//!   (person ids and filters in our URLs never reach another site).

use salvo::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderValue, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use salvo::{Depot, FlowCtrl, Handler, Request, Response, async_trait};

/// What a page may load when it set no policy of its own: everything from this server
/// only (camera pictures come through the stream proxy), WebSocket to us. Pages rendered
/// by `web::render` set the same policy, plus the stream gateway on the live view.
const PAGE_CSP: &str = "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; frame-src 'self'; connect-src 'self' ws: wss:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub(crate) struct SecurityHeaders;

#[async_trait]
impl Handler for SecurityHeaders {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        ctrl.call_next(req, depot, res).await;
        let is_page = res
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/html"));
        let headers = res.headers_mut();
        headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        if is_page {
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
            headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            headers
                .entry(CONTENT_SECURITY_POLICY)
                .or_insert(HeaderValue::from_static(PAGE_CSP));
        }
    }
}
