//! The proxy is bounded: open streams per person (429), answer sizes (502, nothing passed
//! on) and time (504 when a camera does not answer or drips, a stalled MJPEG stream is
//! closed).

use std::time::{Duration, Instant};

use cctv_http::streams::StreamSettings;

use super::*;
use crate::manage::people;

const USER: &str = "u";
const PASSWORD: &str = "p";

async fn app_with(settings: StreamSettings) -> TestApp {
    spawn_app_with(
        Backend::Sqlite,
        AppOptions {
            streams: settings,
            ..Default::default()
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_cannot_hold_more_proxied_streams_than_allowed() {
    let app = app_with(StreamSettings {
        max_streams_per_user: 1,
        ..Default::default()
    })
    .await;
    let p = people(&app).await;
    let cam = FakeCamera::start(USER, PASSWORD).await;
    let creds = Some((USER, PASSWORD));
    camera(
        &app,
        &p.admin,
        "CAM_MJPEG",
        app.branch(0),
        &cam.url("/video.mjpg"),
        creds,
    )
    .await;
    camera(
        &app,
        &p.admin,
        "CAM_SNAP",
        app.branch(0),
        &cam.url("/snapshot.jpg"),
        creds,
    )
    .await;
    let op = bearer(&p.operator);
    let mut playing = open(
        &app.addr,
        "/api/v1/cctv/streams/CAM_MJPEG/proxy",
        &[("authorization", &op)],
    )
    .await;
    assert_eq!(playing.status, 200);
    assert!(!playing.read_until(b"--frame", 1).await.is_empty());

    let refused = call(
        &app,
        "GET",
        "/api/v1/cctv/streams/CAM_SNAP/proxy",
        Some(&p.operator),
        None,
    )
    .await;
    assert_eq!(refused.status, 429, "{:?}", refused.body);
    assert_eq!(refused.code(), "RATE_LIMIT_EXCEEDED");
    assert_eq!(refused.body["success"], false);
    assert_eq!(refused.body["error"]["details"]["max_open_streams"], 1);
    assert!(refused.headers.contains_key("retry-after"));
    let other = call(
        &app,
        "GET",
        "/api/v1/cctv/streams/CAM_SNAP/proxy",
        Some(&p.admin),
        None,
    )
    .await;
    assert_eq!(other.status, 200, "another person has their own slots");

    // Closing the stream gives the slot back.
    drop(playing);
    let started = Instant::now();
    loop {
        let r = call(
            &app,
            "GET",
            "/api/v1/cctv/streams/CAM_SNAP/proxy",
            Some(&p.operator),
            None,
        )
        .await;
        if r.status == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the slot was never freed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_camera_answer_is_refused_not_passed_on() {
    let app = app_with(StreamSettings {
        max_response_bytes: 1024,
        max_playlist_bytes: 32,
        ..Default::default()
    })
    .await;
    let p = people(&app).await;
    let cam = FakeCamera::start(USER, PASSWORD).await;
    let creds = Some((USER, PASSWORD));
    let b0 = app.branch(0);
    camera(&app, &p.admin, "CAM_BIG", b0, &cam.url("/big.jpg"), creds).await;
    camera(
        &app,
        &p.admin,
        "CAM_CHUNKED",
        b0,
        &cam.url("/big-chunked.jpg"),
        creds,
    )
    .await;
    camera(
        &app,
        &p.admin,
        "CAM_HLS",
        b0,
        &cam.url("/hls/live/index.m3u8"),
        creds,
    )
    .await;
    camera(
        &app,
        &p.admin,
        "CAM_OK",
        b0,
        &cam.url("/snapshot.jpg"),
        creds,
    )
    .await;
    for device in ["CAM_BIG", "CAM_CHUNKED", "CAM_HLS"] {
        let r = call(
            &app,
            "GET",
            &format!("/api/v1/cctv/streams/{device}/proxy"),
            Some(&p.admin),
            None,
        )
        .await;
        assert_eq!(r.status, 502, "{device}: {:?}", r.body);
        assert_eq!(
            r.code(),
            "BAD_GATEWAY",
            "{device}: the envelope, not the camera's bytes"
        );
    }
    assert_eq!(
        cam.seen_at("/big-chunked.jpg").len(),
        1,
        "the camera was asked"
    );
    let small = call(
        &app,
        "GET",
        "/api/v1/cctv/streams/CAM_OK/proxy",
        Some(&p.admin),
        None,
    )
    .await;
    assert_eq!(small.status, 200, "answers within the limit pass");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_that_stops_answering_times_out() {
    let app = app_with(StreamSettings {
        read_timeout: Duration::from_millis(300),
        answer_timeout: Duration::from_secs(1),
        ..Default::default()
    })
    .await;
    let p = people(&app).await;
    let cam = FakeCamera::start(USER, PASSWORD).await;
    let creds = Some((USER, PASSWORD));
    let b0 = app.branch(0);
    camera(&app, &p.admin, "CAM_HANG", b0, &cam.url("/hang.jpg"), creds).await;
    camera(
        &app,
        &p.admin,
        "CAM_STALL",
        b0,
        &cam.url("/stall.mjpg"),
        creds,
    )
    .await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}/snapshot.jpg", closed.local_addr().unwrap());
    drop(closed);
    camera(&app, &p.admin, "CAM_DOWN", b0, &down, creds).await;
    camera(&app, &p.admin, "CAM_DRIP", b0, &cam.url("/drip.jpg"), creds).await;

    let started = Instant::now();
    let r = call(
        &app,
        "GET",
        "/api/v1/cctv/streams/CAM_HANG/proxy",
        Some(&p.admin),
        None,
    )
    .await;
    assert_eq!(r.status, 504, "{:?}", r.body);
    assert_eq!(r.code(), "GATEWAY_TIMEOUT");
    assert!(started.elapsed() < Duration::from_secs(5));

    // A byte every 100 ms never trips the read timeout; the answer deadline ends it.
    let started = Instant::now();
    let r = call(
        &app,
        "GET",
        "/api/v1/cctv/streams/CAM_DRIP/proxy",
        Some(&p.admin),
        None,
    )
    .await;
    assert_eq!(r.status, 504, "{:?}", r.body);
    assert!(started.elapsed() < Duration::from_secs(5));

    let r = call(
        &app,
        "GET",
        "/api/v1/cctv/streams/CAM_DOWN/proxy",
        Some(&p.admin),
        None,
    )
    .await;
    assert_eq!(r.status, 502, "{:?}", r.body);

    // One frame, then silence: the proxy ends the stream instead of holding it open.
    let admin = bearer(&p.admin);
    let mut stall = open(
        &app.addr,
        "/api/v1/cctv/streams/CAM_STALL/proxy",
        &[("authorization", &admin)],
    )
    .await;
    assert_eq!(stall.status, 200);
    let first = stall.read_until(b"--frame", 1).await;
    assert!(first.windows(snapshot().len()).any(|w| w == snapshot()));
    let started = Instant::now();
    let next = tokio::time::timeout(Duration::from_secs(5), stall.body.frame()).await;
    match next {
        Ok(None) | Ok(Some(Err(_))) => {}
        other => panic!("the stalled stream should end, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    app.stop().await;
}
