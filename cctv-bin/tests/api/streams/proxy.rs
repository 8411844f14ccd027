//! The proxy plays snapshots, MJPEG and HLS with the stored credentials, only for people
//! who may view the stream's branch, and fetches only what the camera's playlists name.

use super::*;
use crate::manage::people;
use crate::report_support::token;
use crate::web::Browser;

const USER: &str = "cam-user";
const PASSWORD: &str = "cam:p@ss/1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_plays_snapshots_mjpeg_and_hls_with_the_stored_credentials() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let p = people(&app).await;
        let cam = FakeCamera::start(USER, PASSWORD).await;
        let b0 = app.branch(0);
        let creds = Some((USER, PASSWORD));
        camera(
            &app,
            &p.admin,
            "CAM_SNAP",
            b0,
            &cam.url("/snapshot.jpg"),
            creds,
        )
        .await;
        camera(
            &app,
            &p.admin,
            "CAM_MJPEG",
            b0,
            &cam.url("/video.mjpg"),
            creds,
        )
        .await;
        // Typed into the URL, the credentials move to their own columns and still work.
        let typed = cam.url_with_user_info("cam-user:cam%3Ap%40ss%2F1", "/hls/live/index.m3u8");
        camera(&app, &p.admin, "CAM_HLS", b0, &typed, None).await;
        camera(
            &app,
            &p.admin,
            "CAM_HTML",
            b0,
            &cam.url("/page.html"),
            creds,
        )
        .await;
        let op = bearer(&p.operator);
        let auth = [("authorization", op.as_str())];
        let expected = basic(USER, PASSWORD);

        let info = call(
            &app,
            "GET",
            "/api/v1/cctv/streams/CAM_SNAP",
            Some(&p.operator),
            None,
        )
        .await;
        assert_eq!(info.status, 200, "{:?}", info.body);
        assert_eq!(
            info.body["data"]["stream_url"],
            "/api/v1/cctv/streams/CAM_SNAP/proxy"
        );
        assert_eq!(info.body["data"]["player"], "snapshot");
        assert_eq!(info.body["data"]["playable_in_browser"], true);

        let (status, headers, body) =
            get_bytes(&app, "/api/v1/cctv/streams/CAM_SNAP/proxy", &auth).await;
        assert_eq!(status, 200);
        assert_eq!(headers["content-type"], "image/jpeg");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(body, snapshot());
        let asked = cam.seen_at("/snapshot.jpg");
        assert_eq!(asked.len(), 1);
        assert_eq!(asked[0].authorization.as_deref(), Some(expected.as_str()));

        let mut mjpeg = open(&app.addr, "/api/v1/cctv/streams/CAM_MJPEG/proxy", &auth).await;
        assert_eq!(mjpeg.status, 200);
        assert_eq!(
            mjpeg.headers["content-type"],
            "multipart/x-mixed-replace; boundary=frame"
        );
        let frames = mjpeg.read_until(b"--frame", 3).await;
        let jpegs = frames
            .windows(snapshot().len())
            .filter(|w| *w == snapshot())
            .count();
        assert!(jpegs >= 2, "frames arrive as the camera sends them");
        drop(mjpeg);
        assert_eq!(
            cam.seen_at("/video.mjpg")[0].authorization.as_deref(),
            Some(expected.as_str())
        );

        let (status, headers, body) =
            get_bytes(&app, "/api/v1/cctv/streams/CAM_HLS/proxy", &auth).await;
        assert_eq!(status, 200);
        assert_eq!(headers["content-type"], "application/vnd.apple.mpegurl");
        let playlist = String::from_utf8(body).unwrap();
        assert!(!playlist.contains("127.0.0.1"), "{playlist}");
        let prefix = "/api/v1/cctv/streams/CAM_HLS/proxy/hls?u=";
        assert!(
            playlist.contains(&format!("URI=\"{prefix}%2Fhls%2Fkeys%2Fk.key&")),
            "{playlist}"
        );
        let segment = playlist
            .lines()
            .find(|l| l.starts_with(&format!("{prefix}%2Fhls%2Flive%2Fseg-1.ts&")))
            .expect("the segment goes through the proxy")
            .to_owned();
        let (status, headers, body) = get_bytes(&app, &segment, &auth).await;
        assert_eq!(status, 200);
        assert_eq!(headers["content-type"], "video/mp2t");
        assert_eq!(body, SEGMENT);
        for path in ["/hls/live/index.m3u8", "/hls/live/seg-1.ts"] {
            let asked = cam.seen_at(path);
            assert_eq!(asked.len(), 1, "{path}");
            assert_eq!(asked[0].authorization.as_deref(), Some(expected.as_str()));
        }

        // A link names exactly one target: edited or unsigned, the camera is not asked.
        let forged = segment.replace("u=%2Fhls%2Flive%2Fseg-1.ts", "u=%2Fadmin%2Fconfig");
        let r = call(&app, "GET", &forged, Some(&p.operator), None).await;
        assert_eq!(r.status, 403, "{:?}", r.body);
        let unsigned = format!("{prefix}%2Fhls%2Flive%2Fseg-1.ts");
        let r = call(&app, "GET", &unsigned, Some(&p.operator), None).await;
        assert_eq!(r.status, 403);
        assert!(cam.seen_at("/admin/config").is_empty());
        assert_eq!(cam.seen_at("/hls/live/seg-1.ts").len(), 1);

        // The web session plays it too (the live page's <img> sends the cookie).
        let mut browser = Browser::new(&app);
        browser.login("viewer@cctv.test", "secret-pass-1").await;
        let seen = browser.get("/api/v1/cctv/streams/CAM_SNAP/proxy").await;
        assert_eq!(seen.status, 200);
        assert_eq!(seen.header("content-type"), Some("image/jpeg"));

        // A camera's HTML is never served as a page of ours.
        let (status, headers, _) =
            get_bytes(&app, "/api/v1/cctv/streams/CAM_HTML/proxy", &auth).await;
        assert_eq!(status, 200);
        assert_eq!(headers["content-type"], "application/octet-stream");
        assert_eq!(
            headers["content-security-policy"],
            "default-src 'none'; sandbox"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_of_another_branch_are_refused_and_the_camera_is_not_asked() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let p = people(&app).await;
        let cam = FakeCamera::start(USER, PASSWORD).await;
        let creds = Some((USER, PASSWORD));
        let (b0, b1) = (app.branch(0), app.branch(1));
        camera(
            &app,
            &p.admin,
            "CAM_B0",
            b0,
            &cam.url("/snapshot.jpg"),
            creds,
        )
        .await;
        camera(
            &app,
            &p.admin,
            "CAM_B1",
            b1,
            &cam.url("/snapshot.jpg"),
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
        let (_, _, body) = get_bytes(
            &app,
            "/api/v1/cctv/streams/CAM_HLS/proxy",
            &[("authorization", &bearer(&p.admin))],
        )
        .await;
        let segment = String::from_utf8(body)
            .unwrap()
            .lines()
            .find(|l| l.contains("seg-1.ts"))
            .unwrap()
            .to_owned();
        let before = cam.seen().len();

        let viewer_b1 = token(&app, "viewer", &[b1]).await;
        for path in [
            "/api/v1/cctv/streams/CAM_B0".to_owned(),
            "/api/v1/cctv/streams/CAM_B0/proxy".to_owned(),
            "/api/v1/cctv/streams/CAM_HLS/proxy".to_owned(),
            segment.clone(),
        ] {
            let r = call(&app, "GET", &path, Some(&viewer_b1), None).await;
            assert_eq!(r.status, 403, "viewer of branch 1: {path}");
            assert_eq!(r.code(), "FORBIDDEN");
        }
        let r = call(
            &app,
            "GET",
            "/api/v1/cctv/streams/CAM_B1/proxy",
            Some(&p.operator),
            None,
        )
        .await;
        assert_eq!(r.status, 403, "operator of branch 0 on branch 1");
        let r = call(&app, "GET", "/api/v1/cctv/streams/CAM_B0/proxy", None, None).await;
        assert_eq!(r.status, 401);
        assert_eq!(
            cam.seen().len(),
            before,
            "no refused request reached the camera"
        );

        let own = call(
            &app,
            "GET",
            "/api/v1/cctv/streams/CAM_B1/proxy",
            Some(&viewer_b1),
            None,
        )
        .await;
        assert_eq!(own.status, 200, "the viewer's own branch plays");
        let unscoped = call(
            &app,
            "GET",
            "/api/v1/cctv/streams/CAM_B0/proxy",
            Some(&p.viewer),
            None,
        )
        .await;
        assert_eq!(unscoped.status, 200, "a viewer without branches sees all");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_refusing_the_credentials_is_a_502_without_a_login_prompt() {
    let app = spawn_app(Backend::Sqlite).await;
    let p = people(&app).await;
    let cam = FakeCamera::start(USER, PASSWORD).await;
    let wrong = Some((USER, "not-the-password"));
    camera(
        &app,
        &p.admin,
        "CAM_WRONG",
        app.branch(0),
        &cam.url("/snapshot.jpg"),
        wrong,
    )
    .await;
    let r = call(
        &app,
        "GET",
        "/api/v1/cctv/streams/CAM_WRONG/proxy",
        Some(&p.admin),
        None,
    )
    .await;
    assert_eq!(r.status, 502, "{:?}", r.body);
    assert_eq!(r.code(), "BAD_GATEWAY");
    assert!(r.body["message"].as_str().unwrap().contains("credentials"));
    assert!(
        !r.headers.contains_key("www-authenticate"),
        "the browser must not ask the viewer for the camera's password"
    );
    app.stop().await;
}
