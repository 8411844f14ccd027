//! The stream proxy: fetches the camera with its stored credentials (HTTP basic auth) and
//! passes the picture on, so a browser never needs them.
//!
//! Bounded on every side: connect and read timeouts and a deadline for a whole
//! snapshot, segment or playlist (504 when the camera stalls or drips), a maximum size for snapshots, segments and playlists (502, nothing is passed on), and a
//! number of open proxied requests per person (429). An MJPEG stream
//! (`multipart/x-mixed-replace`) is passed on as it arrives and holds its slot while it
//! plays. Camera answers never carry their own headers through: a 401 would make the
//! browser ask the viewer for the camera's password, and a camera's HTML would run on our
//! origin — only known media types are passed on, under a sandboxing policy.

use cctv_admin::manage::{Playback, StreamSource};
use cctv_admin::stream_url::percent_encode;
use jiff::Timestamp;
use reqwest::Url;
use salvo::http::StatusCode;
use salvo::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use salvo::{Depot, Request, Response, handler};

use super::hls;
use super::slots::Slot;
use crate::AppState;
use crate::envelope::{ApiError, respond};
use crate::extract::reader;
use crate::state;

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";

/// Media types passed on as the camera sent them; anything else becomes
/// `application/octet-stream`.
fn passable(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "image/jpeg" | "image/png" | "image/gif" | "image/webp" | "image/bmp"
    ) || essence == "multipart/x-mixed-replace"
        || essence.starts_with("video/")
        || essence.starts_with("audio/")
        || essence.ends_with("mpegurl")
}

#[handler]
pub(super) async fn proxy(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    if let Err(e) = serve(&state, req, res, Part::Stream).await {
        respond(res, depot, Err(e));
    }
}

#[handler]
pub(super) async fn hls_part(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    if let Err(e) = serve(&state, req, res, Part::HlsLinked).await {
        respond(res, depot, Err(e));
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    /// The stream's own URL.
    Stream,
    /// A URI an HLS playlist of this stream named (signed by us when we rewrote it).
    HlsLinked,
}

async fn serve(
    state: &AppState,
    req: &Request,
    res: &mut Response,
    part: Part,
) -> Result<(), ApiError> {
    let who = reader(state, req).await?;
    let device = req.param::<String>("device_id").unwrap_or_default();
    let source = state.manage.stream_source(&who, &device).await?;
    if source.playback() != Playback::Proxy || (part == Part::HlsLinked && source.protocol != "hls")
    {
        return Err(ApiError::NotFound(
            "This stream is not served by the proxy.".into(),
        ));
    }
    let camera = Url::parse(&source.url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| ApiError::BadGateway("The stream URL is not a valid HTTP URL.".into()))?;
    let url = match part {
        Part::Stream => camera.clone(),
        Part::HlsLinked => hls::on_origin(&camera, &linked_target(state, req, &device)?),
    };
    let service = &state.streams;
    let slot = service
        .slots
        .take(who.user_id)
        .ok_or(ApiError::TooManyStreams(service.slots.max()))?;
    let upstream = fetch(state, &source, url.clone()).await?;
    let content_type = upstream
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let playlist = source.protocol == "hls"
        && (part == Part::Stream
            || content_type.to_ascii_lowercase().contains("mpegurl")
            || url.path().ends_with(".m3u8"));
    res.status_code(StatusCode::OK);
    let headers = res.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    if playlist {
        let body = read_bounded(upstream, &service.settings, true).await?;
        let text = String::from_utf8_lossy(&body);
        let link = |target: &str| signed_link(state, &source.device_id, target);
        let rewritten = hls::rewrite(&text, &url, &camera, &link)
            .ok_or_else(|| ApiError::BadGateway("The camera did not answer a playlist.".into()))?;
        res.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(PLAYLIST_TYPE));
        let _ = res.write_body(rewritten);
        return Ok(());
    }
    let shown_type = Some(content_type.as_str())
        .filter(|t| passable(t))
        .and_then(|t| HeaderValue::from_str(t).ok())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let streaming = content_type
        .to_ascii_lowercase()
        .starts_with("multipart/x-mixed-replace");
    res.headers_mut().insert(CONTENT_TYPE, shown_type);
    if streaming {
        res.stream(body_stream(upstream, slot));
    } else {
        let body = read_bounded(upstream, &service.settings, false).await?;
        let _ = res.write_body(body);
    }
    Ok(())
}

/// The signed target of an HLS link; a missing, edited or expired signature is a 403.
fn linked_target(state: &AppState, req: &Request, device: &str) -> Result<String, ApiError> {
    let refused = || ApiError::Forbidden("This stream link is invalid or has expired.".into());
    let target = req.query::<String>("u").ok_or_else(refused)?;
    let expires = req.query::<i64>("expires").ok_or_else(refused)?;
    let sig = req.query::<String>("sig").ok_or_else(refused)?;
    state
        .files
        .signer
        .verify_value(&purpose(device), &target, expires, &sig, Timestamp::now())
        .map_err(|_| refused())?;
    Ok(target)
}

fn purpose(device_id: &str) -> String {
    format!("hls:{device_id}")
}

/// A proxy link to `target` on the camera, signed for this device.
fn signed_link(state: &AppState, device_id: &str, target: &str) -> String {
    let ttl = i64::try_from(state.files.url_ttl.as_secs()).unwrap_or(i64::MAX);
    let expires = Timestamp::now().as_second().saturating_add(ttl.max(60));
    let sig = state
        .files
        .signer
        .sign_value(&purpose(device_id), target, expires);
    format!(
        "{}/hls?u={}&expires={expires}&sig={sig}",
        super::proxy_path(device_id),
        percent_encode(target)
    )
}

/// One GET to the camera with the stored credentials; a refusal or failure becomes a
/// 502/504 that says what happened without passing on anything of the camera's answer.
async fn fetch(
    state: &AppState,
    source: &StreamSource,
    url: Url,
) -> Result<reqwest::Response, ApiError> {
    let mut request = state.streams.client.get(url);
    if let Some((user, password)) = source.credentials() {
        request = request.basic_auth(user, password);
    }
    let response = request.send().await.map_err(|e| {
        let timeout = e.is_timeout();
        tracing::warn!(device_id = %source.device_id, error = %e.without_url(), "stream proxy: camera request failed");
        if timeout {
            ApiError::GatewayTimeout("The camera did not answer in time.".into())
        } else {
            ApiError::BadGateway("The camera could not be reached.".into())
        }
    })?;
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(ApiError::BadGateway(
            "The camera refused the stored credentials.".into(),
        ));
    }
    if !status.is_success() {
        return Err(ApiError::BadGateway(format!(
            "The camera answered {}.",
            status.as_u16()
        )));
    }
    Ok(response)
}

/// The whole body of a snapshot, segment or playlist, within the answer timeout.
async fn read_bounded(
    response: reqwest::Response,
    settings: &super::StreamSettings,
    playlist: bool,
) -> Result<Vec<u8>, ApiError> {
    let max = if playlist {
        settings.max_playlist_bytes
    } else {
        settings.max_response_bytes
    };
    tokio::time::timeout(settings.answer_timeout, read_at_most(response, max))
        .await
        .map_err(|_| ApiError::GatewayTimeout("The camera's answer took too long.".into()))?
}

/// The whole body, refused as soon as it is known to exceed `max` bytes.
async fn read_at_most(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::BadGateway(format!(
            "The camera's answer is larger than the proxy passes on ({max} bytes)."
        ))
    };
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(read_failed)? {
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn read_failed(e: reqwest::Error) -> ApiError {
    if e.is_timeout() {
        ApiError::GatewayTimeout("The camera stopped sending.".into())
    } else {
        ApiError::BadGateway("The camera's answer broke off.".into())
    }
}

/// The camera's body as it arrives, holding `slot` until the body is dropped; a stall
/// longer than the read timeout ends it.
fn body_stream(
    response: reqwest::Response,
    slot: Slot,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    futures_util::stream::unfold(Some((response, slot)), |state| async move {
        let (mut response, slot) = state?;
        match response.chunk().await {
            Ok(Some(bytes)) => Some((Ok(bytes), Some((response, slot)))),
            Ok(None) => None,
            Err(e) => Some((Err(std::io::Error::other(e.without_url())), None)),
        }
    })
}
