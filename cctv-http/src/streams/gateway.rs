//! `GET /api/v1/cctv/gateway/sources/{device_id}`: the camera URL with its credentials,
//! for the gateway only.
//!
//! Browsers cannot play RTSP or RTMP; a gateway (MediaMTX, go2rtc) converts them. The
//! gateway pulls each camera's source from here when a viewer first opens its path, so
//! camera credentials live in one place (this server's encrypted columns) and travel
//! only server to server. The gateway proves itself with the shared
//! `streams.gateway_token` (`Authorization: Bearer …`, compared in constant time); people's
//! tokens and sessions are not accepted, and without a configured token the route does
//! not exist. Only streams that play through the gateway are answered. The body is the
//! URL as `text/plain`, so a shell hook can use it as it is.

use salvo::http::StatusCode;
use salvo::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use salvo::{Depot, Request, Response, handler};
use subtle::ConstantTimeEq;

use crate::envelope::{ApiError, respond};
use crate::state;

#[handler]
pub(super) async fn gateway_source(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        let Some(expected) = state.streams.settings.gateway_token.as_deref() else {
            return Err(ApiError::NotFound("Not found".into()));
        };
        let presented = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
            return Err(ApiError::Unauthorized("Unauthenticated.".into()));
        }
        let device = req.param::<String>("device_id").unwrap_or_default();
        let stream = state.manage.gateway_source(&device).await?;
        tracing::info!(device_id = %device, "gateway fetched a stream source");
        Ok(stream.url_with_credentials())
    }
    .await;
    match result {
        Ok(url) => {
            res.status_code(StatusCode::OK);
            let headers = res.headers_mut();
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            let _ = res.write_body(url);
        }
        Err(e) => respond(res, depot, Err(e)),
    }
}
