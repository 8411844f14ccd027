//! Live streams: camera credentials never leave the server. A fake camera on loopback
//! that insists on HTTP basic auth, the stream proxy (snapshot, MJPEG, HLS) and its
//! limits, the gateway, and every route and page that shows a stream or a device.

mod gateway;
mod leaks;
mod limits;
mod proxy;
mod writes;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use salvo::conn::tcp::TcpAcceptor;
use salvo::http::StatusCode;
use salvo::{Depot, FlowCtrl, Handler, Request, Response, Router, Server, Service, async_trait};
use serde_json::json;

use crate::helpers::*;
use crate::manage::call;

/// A real 32×24 JPEG (browsers draw it, so the browser test can see a tile play).
pub fn snapshot() -> &'static [u8] {
    static JPEG: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    JPEG.get_or_init(|| {
        let frame = image::RgbImage::from_pixel(32, 24, image::Rgb([200, 40, 40]));
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
            .encode_image(&frame)
            .unwrap();
        out
    })
}
pub const SEGMENT: &[u8] = b"\x47\x40\x00\x10fake-transport-stream";
pub const PLAYLIST: &str = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n\
    #EXT-X-KEY:METHOD=AES-128,URI=\"../keys/k.key\"\n#EXTINF:2.0,\nseg-1.ts\n#EXT-X-ENDLIST\n";

/// One request the camera received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub query: Option<String>,
    pub authorization: Option<String>,
}

/// A camera on 127.0.0.1 that answers only requests carrying its basic-auth credentials
/// (401 with a login challenge otherwise, like a real one).
pub struct FakeCamera {
    pub base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

struct Camera {
    expected: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

pub fn basic(user: &str, password: &str) -> String {
    let raw = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

impl FakeCamera {
    pub async fn start(user: &str, password: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let router = Router::with_path("{**rest}").goal(Camera {
            expected: basic(user, password),
            seen: seen.clone(),
        });
        tokio::spawn(
            Server::new(TcpAcceptor::try_from(listener).unwrap()).serve(Service::new(router)),
        );
        Self { base, seen }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `http://host:port` with user info, as an admin might type it.
    pub fn url_with_user_info(&self, user_info: &str, path: &str) -> String {
        self.base
            .replacen("http://", &format!("http://{user_info}@"), 1)
            + path
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The requests for `path`.
    pub fn seen_at(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }
}

fn frame() -> Bytes {
    let mut part = format!(
        "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
        snapshot().len()
    )
    .into_bytes();
    part.extend_from_slice(snapshot());
    part.extend_from_slice(b"\r\n");
    Bytes::from(part)
}

#[async_trait]
impl Handler for Camera {
    async fn handle(&self, req: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        let seen = Seen {
            path: req.uri().path().to_owned(),
            query: req.uri().query().map(str::to_owned),
            authorization: req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        };
        self.seen.lock().unwrap().push(seen.clone());
        if seen.authorization.as_deref() != Some(self.expected.as_str()) {
            res.status_code(StatusCode::UNAUTHORIZED);
            res.add_header("www-authenticate", "Basic realm=\"camera\"", true)
                .unwrap();
            return;
        }
        let mut kind = |t: &str| {
            res.add_header("content-type", t, true).unwrap();
        };
        match seen.path.as_str() {
            "/snapshot.jpg" => {
                kind("image/jpeg");
                res.write_body(snapshot()).unwrap();
            }
            "/video.mjpg" | "/stall.mjpg" => {
                kind("multipart/x-mixed-replace; boundary=frame");
                let stall = seen.path == "/stall.mjpg";
                res.stream(futures_util::stream::unfold(0u32, move |n| async move {
                    if n > 0 {
                        let pause = if stall { 3_600_000 } else { 50 };
                        tokio::time::sleep(Duration::from_millis(pause)).await;
                    }
                    Some((Ok::<_, std::io::Error>(frame()), n + 1))
                }));
            }
            "/hls/live/index.m3u8" => {
                kind("application/vnd.apple.mpegurl");
                res.write_body(PLAYLIST).unwrap();
            }
            "/hls/live/seg-1.ts" => {
                kind("video/mp2t");
                res.write_body(SEGMENT).unwrap();
            }
            "/hls/keys/k.key" => {
                kind("application/octet-stream");
                res.write_body(vec![7u8; 16]).unwrap();
            }
            "/big.jpg" => {
                kind("image/jpeg");
                res.write_body(vec![0u8; 2048]).unwrap();
            }
            "/big-chunked.jpg" => {
                kind("image/jpeg");
                res.stream(futures_util::stream::iter(
                    (0..4).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![0u8; 512]))),
                ));
            }
            "/hang.jpg" => tokio::time::sleep(Duration::from_secs(3600)).await,
            "/drip.jpg" => {
                kind("image/jpeg");
                res.stream(futures_util::stream::unfold((), |()| async {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Some((Ok::<_, std::io::Error>(Bytes::from_static(b"x")), ()))
                }));
            }
            "/page.html" => {
                kind("text/html");
                res.write_body("<script>document.title='camera'</script>")
                    .unwrap();
            }
            _ => {
                res.status_code(StatusCode::NOT_FOUND);
            }
        }
    }
}

/// Creates a CCTV device (and with it its stream) in `branch` as the admin; its row id.
pub async fn camera(
    app: &TestApp,
    admin: &str,
    device_id: &str,
    branch: i64,
    url: &str,
    credentials: Option<(&str, &str)>,
) -> i64 {
    let mut body = json!({
        "device_id": device_id, "device_name": format!("{device_id} name"), "device_type": "cctv",
        "branch_id": branch, "url": url,
    });
    if let Some((user, password)) = credentials {
        body["username"] = json!(user);
        body["password"] = json!(password);
    }
    let r = call(
        app,
        "POST",
        "/api/v1/device-masters",
        Some(admin),
        Some(body),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["data"]["id"].as_i64().unwrap()
}

/// A 4-window default layout showing `device` in position 1; its id.
pub async fn layout_with(app: &TestApp, admin: &str, branch: i64, device: &str) -> i64 {
    let positions: Vec<_> = (1..=4).map(|i| json!({"position_number": i})).collect();
    let layout = call(app, "POST", "/api/v1/cctv-layouts", Some(admin),
        Some(json!({"layout_name": "Wall", "layout_type": "4-window", "is_default": true, "positions": positions}))).await;
    assert_eq!(layout.status, 201, "{:?}", layout.body);
    let id = layout.body["data"]["id"].as_i64().unwrap();
    let put = call(
        app,
        "PUT",
        &format!("/api/v1/cctv/layouts/{id}/positions/1"),
        Some(admin),
        Some(json!({"branch_id": branch, "device_id": device})),
    )
    .await;
    assert_eq!(put.status, 200, "{:?}", put.body);
    id
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A GET whose body is read as it arrives (an MJPEG stream never ends).
pub struct Open {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: hyper::body::Incoming,
}

pub async fn open(addr: &str, path: &str, headers: &[(&str, &str)]) -> Open {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::builder().uri(path).header("host", addr);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    Open {
        status: resp.status().as_u16(),
        headers: resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: resp.into_body(),
    }
}

impl Open {
    /// Reads until `needle` has been seen `times` times (or the body ends); the bytes read.
    pub async fn read_until(&mut self, needle: &[u8], times: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let count = |b: &[u8]| b.windows(needle.len()).filter(|w| *w == needle).count();
        while count(&got) < times {
            match tokio::time::timeout(Duration::from_secs(10), self.body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        got.extend_from_slice(&data);
                    }
                }
                _ => break,
            }
        }
        got
    }
}

/// A GET that keeps the body's bytes (images, playlists) and the headers.
pub async fn get_bytes(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, HashMap<String, String>, Vec<u8>) {
    let mut open = open(&app.addr, path, headers).await;
    let mut body = Vec::new();
    while let Some(Ok(frame)) = open.body.frame().await {
        if let Ok(data) = frame.into_data() {
            body.extend_from_slice(&data);
        }
    }
    (open.status, open.headers, body)
}
