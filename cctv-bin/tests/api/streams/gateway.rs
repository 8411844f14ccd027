//! RTSP plays through the configured gateway: players get the gateway's URL, and only the
//! gateway (with the shared token) gets the camera URL with its credentials.

use cctv_http::streams::{Gateway, GatewayPlayer, StreamSettings};

use super::*;
use crate::manage::people;
use crate::web::Browser;

const TOKEN: &str = "gateway-token-0123456789abcdef0123456789";
const RTSP: &str = "rtsp://10.1.2.3:554/Streaming/Channels/101";

pub fn with_gateway() -> AppOptions {
    AppOptions {
        streams: StreamSettings {
            gateway: Some(Gateway {
                url_template: "http://gateway.local:8889/{device_id}/".into(),
                player: GatewayPlayer::Iframe,
            }),
            gateway_token: Some(TOKEN.into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

async fn source(app: &TestApp, device: &str, authorization: Option<&str>) -> RawResp {
    let headers: Vec<(&str, &str)> = authorization
        .map(|a| ("authorization", a))
        .into_iter()
        .collect();
    send_raw(
        &app.addr,
        "GET",
        &format!("/api/v1/cctv/gateway/sources/{device}"),
        &headers,
        vec![],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtsp_plays_through_the_gateway_and_only_the_gateway_gets_the_credentials() {
    for backend in backends() {
        let app = spawn_app_with(backend, with_gateway()).await;
        let p = people(&app).await;
        let b0 = app.branch(0);
        camera(
            &app,
            &p.admin,
            "CAM_RTSP",
            b0,
            RTSP,
            Some(("rtsp-user", "rtsp:pw@1")),
        )
        .await;
        camera(
            &app,
            &p.admin,
            "CAM_SNAP",
            b0,
            "http://10.1.2.4/snapshot.jpg",
            Some(("u", "p")),
        )
        .await;

        let info = call(
            &app,
            "GET",
            "/api/v1/cctv/streams/CAM_RTSP",
            Some(&p.viewer),
            None,
        )
        .await;
        assert_eq!(info.status, 200, "{:?}", info.body);
        let data = &info.body["data"];
        assert_eq!(data["playback"], "gateway");
        assert_eq!(data["player"], "iframe");
        assert_eq!(data["stream_url"], "http://gateway.local:8889/CAM_RTSP/");
        assert_eq!(data["playable_in_browser"], true);
        assert!(!info.body.to_string().contains("rtsp-user"));

        let layout = layout_with(&app, &p.admin, b0, "CAM_RTSP").await;
        let mut browser = Browser::new(&app);
        browser.login("viewer@cctv.test", "secret-pass-1").await;
        let live = browser.get(&format!("/live?layout_id={layout}")).await;
        assert_eq!(live.status, 200);
        let html = live.body.replace("&#x2f;", "/");
        assert!(
            html.contains("<iframe src=\"http://gateway.local:8889/CAM_RTSP/\""),
            "{html}"
        );
        let csp = live.header("content-security-policy").unwrap();
        assert!(
            csp.contains("frame-src 'self' http://gateway.local:8889;"),
            "{csp}"
        );

        let viewer = bearer(&p.viewer);
        for refused in [None, Some(viewer.as_str()), Some("Bearer not-the-token")] {
            let r = source(&app, "CAM_RTSP", refused).await;
            assert_eq!(r.status, 401, "{refused:?}");
            assert!(!r.body.contains("rtsp-user"));
        }
        let ok = source(&app, "CAM_RTSP", Some(&format!("Bearer {TOKEN}"))).await;
        assert_eq!(ok.status, 200);
        assert_eq!(ok.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(
            ok.body,
            "rtsp://rtsp-user:rtsp%3Apw%401@10.1.2.3:554/Streaming/Channels/101"
        );
        let proxied = source(&app, "CAM_SNAP", Some(&format!("Bearer {TOKEN}"))).await;
        assert_eq!(
            proxied.status, 404,
            "proxy streams are never handed to the gateway"
        );
        let r = call(
            &app,
            "GET",
            "/api/v1/cctv/streams/CAM_RTSP/proxy",
            Some(&p.viewer),
            None,
        )
        .await;
        assert_eq!(r.status, 404, "RTSP is not proxied");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_gateway_rtsp_is_not_playable_and_no_source_is_handed_out() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let p = people(&app).await;
        let b0 = app.branch(0);
        camera(
            &app,
            &p.admin,
            "CAM_RTSP",
            b0,
            RTSP,
            Some(("rtsp-user", "rtsp-pw")),
        )
        .await;
        let info = call(
            &app,
            "GET",
            "/api/v1/cctv/streams/CAM_RTSP",
            Some(&p.admin),
            None,
        )
        .await;
        assert_eq!(info.status, 200);
        let data = &info.body["data"];
        assert_eq!(data["playback"], "none");
        assert_eq!(data["stream_url"], serde_json::Value::Null);
        assert_eq!(data["playable_in_browser"], false);
        assert!(data["message"].as_str().unwrap().contains("gateway"));
        let r = source(&app, "CAM_RTSP", Some(&format!("Bearer {TOKEN}"))).await;
        assert_eq!(r.status, 404, "no token configured: no source route");
        assert!(!r.body.contains("rtsp-pw"));

        let layout = layout_with(&app, &p.admin, b0, "CAM_RTSP").await;
        let mut browser = Browser::new(&app);
        browser.login("admin@cctv.test", "admin-password-1").await;
        let live = browser.get(&format!("/live?layout_id={layout}")).await;
        assert!(
            live.body
                .contains("RTSP stream: This stream needs a gateway")
        );
        assert!(!live.body.contains("10.1.2.3"));
        app.stop().await;
    }
}
