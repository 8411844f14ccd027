//! Live streams without camera credentials in any response.
//!
//! - `GET /api/v1/cctv/streams/{device_id}`: how a browser plays the device's stream —
//!   a proxy link (snapshot, MJPEG, HLS), a gateway player URL (RTSP, RTMP, WebRTC), or
//!   "not playable" when no gateway is configured. Never the camera URL with credentials.
//! - `GET …/{device_id}/proxy` and `…/proxy/hls?u=…&expires=…&sig=…` ([`proxy`]): the
//!   server fetches the camera with the stored credentials and passes the picture on.
//! - `GET /api/v1/cctv/gateway/sources/{device_id}` ([`gateway`]): the one place a camera
//!   URL with credentials leaves this module, to the configured gateway, which proves
//!   itself with a shared token.
//!
//! People are authenticated like every reader route (bearer token, or the web session
//! for `GET`) and see only devices of branches they may view.

mod gateway;
mod hls;
mod proxy;
mod slots;

use std::sync::Arc;
use std::time::Duration;

use cctv_admin::manage::{Playback, StreamSource};
use cctv_admin::stream_url::percent_encode;
use salvo::{Depot, Request, Response, Router, handler};
use serde_json::{Value, json};

use crate::envelope::{Reply, respond};
use crate::extract::reader;
use crate::state;

/// Limits of the proxy and where the gateway is.
#[derive(Clone)]
pub struct StreamSettings {
    /// Longest wait for a TCP (and TLS) connection to a camera.
    pub connect_timeout: Duration,
    /// Longest wait for a camera's next bytes: its response headers, and each chunk of a
    /// body after that (an MJPEG stream that stalls this long is closed).
    pub read_timeout: Duration,
    /// Longest a whole snapshot, segment or playlist may take to arrive (a camera that
    /// sends a byte now and then never trips the read timeout). MJPEG streams have none.
    pub answer_timeout: Duration,
    /// Largest snapshot or HLS segment passed on; larger answers are refused (502).
    pub max_response_bytes: usize,
    /// Largest HLS playlist.
    pub max_playlist_bytes: usize,
    /// Proxied requests one person may have open at once; more get 429.
    pub max_streams_per_user: usize,
    /// RTSP/RTMP/WebRTC streams play through this gateway; `None`: not in a browser.
    pub gateway: Option<Gateway>,
    /// The secret the gateway sends to the source route; `None` disables that route.
    pub gateway_token: Option<String>,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(3),
            read_timeout: Duration::from_secs(10),
            answer_timeout: Duration::from_secs(30),
            max_response_bytes: 16 * 1024 * 1024,
            max_playlist_bytes: 1024 * 1024,
            max_streams_per_user: 16,
            gateway: None,
            gateway_token: None,
        }
    }
}

/// The token must never reach a log line.
impl std::fmt::Debug for StreamSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSettings")
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("answer_timeout", &self.answer_timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("max_playlist_bytes", &self.max_playlist_bytes)
            .field("max_streams_per_user", &self.max_streams_per_user)
            .field("gateway", &self.gateway)
            .field(
                "gateway_token",
                &self.gateway_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// A gateway that turns RTSP/RTMP into something a browser plays (MediaMTX, go2rtc).
#[derive(Debug, Clone)]
pub struct Gateway {
    /// The player URL, with `{device_id}` replaced by the (percent-encoded) device id.
    pub url_template: String,
    pub player: GatewayPlayer,
}

/// What the gateway's player URL is, so the live view can embed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayPlayer {
    /// A player page (MediaMTX's WebRTC page, go2rtc's `stream.html`): an iframe.
    Iframe,
    /// An HLS playlist: a video element.
    Hls,
    /// An MJPEG stream: an image.
    Mjpeg,
}

impl GatewayPlayer {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "iframe" => Some(Self::Iframe),
            "hls" => Some(Self::Hls),
            "mjpeg" => Some(Self::Mjpeg),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Iframe => "iframe",
            Self::Hls => "hls",
            Self::Mjpeg => "mjpeg",
        }
    }
}

impl Gateway {
    pub fn player_url(&self, device_id: &str) -> String {
        self.url_template
            .replace("{device_id}", &percent_encode(device_id))
    }

    /// `scheme://host[:port]` of the player URLs, for the page's Content-Security-Policy.
    pub(crate) fn origin(&self) -> Option<String> {
        let url = reqwest::Url::parse(&self.player_url("x")).ok()?;
        Some(url.origin().ascii_serialization()).filter(|o| o != "null")
    }
}

/// The proxy's HTTP client and per-person slots, built once from the settings.
#[derive(Debug)]
pub struct StreamService {
    pub settings: StreamSettings,
    client: reqwest::Client,
    slots: Arc<slots::Slots>,
}

impl StreamService {
    pub fn new(settings: StreamSettings) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .read_timeout(settings.read_timeout)
            // A redirect could lead the credentials to another host, and the proxy must
            // fetch exactly the configured camera.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap_or_default();
        let slots = slots::Slots::new(settings.max_streams_per_user.max(1));
        Self {
            settings,
            client,
            slots,
        }
    }
}

impl Default for StreamService {
    fn default() -> Self {
        Self::new(StreamSettings::default())
    }
}

/// The proxy link of a device's stream.
pub(crate) fn proxy_path(device_id: &str) -> String {
    format!("/api/v1/cctv/streams/{}/proxy", percent_encode(device_id))
}

/// How a browser plays `source`: safe to show to anyone who may view its branch.
pub fn describe(service: &StreamService, source: &StreamSource) -> Value {
    let (playback, player, url, message) = match (source.playback(), &service.settings.gateway) {
        (Playback::Proxy, _) => {
            let player = match source.protocol.as_str() {
                "hls" => "hls",
                "mjpeg" => "mjpeg",
                _ => "snapshot",
            };
            (
                "proxy",
                Some(player),
                Some(proxy_path(&source.device_id)),
                None,
            )
        }
        (Playback::Gateway, Some(g)) => (
            "gateway",
            Some(g.player.as_str()),
            Some(g.player_url(&source.device_id)),
            None,
        ),
        (Playback::Gateway, None) => (
            "none",
            None,
            None,
            Some(
                "This stream needs a gateway (e.g. MediaMTX or go2rtc) to play in a browser; none is configured.",
            ),
        ),
    };
    json!({
        "device_id": source.device_id,
        "device_name": source.device_name,
        "stream_name": source.stream_name,
        "stream_protocol": source.protocol,
        "status": source.status,
        "playback": playback,
        "player": player,
        "stream_url": url,
        "playable_in_browser": url.is_some(),
        "message": message,
    })
}

#[handler]
async fn stream_for_device(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        let who = reader(&state, req).await?;
        let device = req.param::<String>("device_id").unwrap_or_default();
        let source = state.manage.stream_source(&who, &device).await?;
        Ok(Reply::ok(
            "Stream data retrieved successfully",
            describe(&state.streams, &source),
        ))
    }
    .await;
    respond(res, depot, result);
}

/// The stream routes (mounted under `/api/v1`).
pub fn routes() -> Router {
    Router::new()
        .push(
            Router::with_path("cctv/streams/{device_id}")
                .get(stream_for_device)
                .push(
                    Router::with_path("proxy")
                        .get(proxy::proxy)
                        .push(Router::with_path("hls").get(proxy::hls_part)),
                ),
        )
        .push(Router::with_path("cctv/gateway/sources/{device_id}").get(gateway::gateway_source))
}
