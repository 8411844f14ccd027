//! Live streams through the server.

use serde_json::Value;

use super::super::build::{
    Auth, Op, boolean, doc, int, nullable, object, one_of_strings, reference, string,
};
use super::*;

fn stream(path: &str, summary: &str) -> Op {
    Op::get(v1(path), "Streams").summary(summary).path_param(
        "device_id",
        string(),
        "The device's `device_id`.",
    )
}

pub(super) fn stream_operations() -> Vec<Op> {
    let proxied = "The camera's answer without its headers: a snapshot image, an MJPEG stream \
        (`multipart/x-mixed-replace`, passed on as it arrives), an HLS playlist \
        (`application/vnd.apple.mpegurl`, its URIs rewritten to signed proxy links) or a \
        segment; other media types are sent as `application/octet-stream`.";
    let bounded = "The camera is fetched with its stored credentials: 502 when it refuses, \
        fails or sends more than allowed, 504 when it does not answer in time, 429 when the \
        caller already has the most proxied streams open.";
    vec![
        stream(
            "cctv/streams/{device_id}",
            "How a browser plays a device's stream",
        )
        .describe(format!(
            "A proxy link (snapshot, MJPEG, HLS), a gateway player URL (RTSP, RTMP, \
                 WebRTC) or, without a configured gateway, not playable; never the camera URL \
                 or its credentials. Only devices of branches the caller may see. \
                 {SESSION_NOTE}"
        ))
        .auth(Auth::Person)
        .ok(reference("LiveStreamPlayback"))
        .errors(&[404, 503]),
        stream(
            "cctv/streams/{device_id}/proxy",
            "The camera's picture through the server",
        )
        .describe(format!(
            "For snapshot, MJPEG and HLS streams. {bounded} {SESSION_NOTE}"
        ))
        .auth(Auth::Person)
        .raw(200, proxied, Some(("*/*", binary())))
        .errors(&[404, 429, 502, 503, 504]),
        stream(
            "cctv/streams/{device_id}/proxy/hls",
            "A part an HLS playlist of the stream names",
        )
        .describe(format!(
            "The links come signed in the playlists `…/proxy` answers; a missing, edited \
                 or expired signature is a 403. {bounded} {SESSION_NOTE}"
        ))
        .auth(Auth::Person)
        .query_required("u", string(), "The target on the camera (path and query).")
        .query_required(
            "expires",
            int(),
            "Unix seconds after which the link is refused.",
        )
        .query_required("sig", string(), "The server's signature of the link.")
        .raw(200, proxied, Some(("*/*", binary())))
        .errors(&[404, 429, 502, 503, 504]),
        stream(
            "cctv/gateway/sources/{device_id}",
            "The camera URL with credentials, for the gateway",
        )
        .describe(
            "For the configured stream gateway (MediaMTX, go2rtc) only, which sends \
                 `Authorization: Bearer <streams.gateway_token>`; people's tokens and sessions \
                 are not accepted, and without a configured token the route answers 404. Only \
                 streams that play through the gateway (RTSP, RTMP, WebRTC) are answered.",
        )
        .raw(
            200,
            "The camera URL with its credentials as user info (`Cache-Control: no-store`).",
            Some(("text/plain", string())),
        )
        .errors(&[401, 404, 503]),
    ]
}

pub(super) fn playback_schema() -> Value {
    object(&[
        ("device_id", string()),
        ("device_name", nullable(string())),
        ("stream_name", nullable(string())),
        (
            "stream_protocol",
            doc(
                string(),
                "`rtsp`, `rtmp`, `hls`, `http`, `mjpeg` or `webrtc`.",
            ),
        ),
        (
            "status",
            doc(
                nullable(string()),
                "From the last health probe (`online`, …).",
            ),
        ),
        (
            "playback",
            doc(
                one_of_strings(&["proxy", "gateway", "none"]),
                "`proxy`: through this server; `gateway`: the gateway's player; `none`: \
                 needs a gateway and none is configured.",
            ),
        ),
        (
            "player",
            doc(
                nullable_enum(&["snapshot", "mjpeg", "hls", "iframe"]),
                "How to embed `stream_url`: an image, a video element or an iframe.",
            ),
        ),
        (
            "stream_url",
            doc(
                nullable(string()),
                "The proxy path, or the gateway's player URL.",
            ),
        ),
        ("playable_in_browser", boolean()),
        (
            "message",
            doc(
                nullable(string()),
                "Why it does not play, when it does not.",
            ),
        ),
    ])
}
