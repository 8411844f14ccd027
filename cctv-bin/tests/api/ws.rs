//! The live-update WebSocket `/ws`: who may open it (the page's origin, a cookie or a
//! bearer token) and who hears which event (branches, role, own account).

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::helpers::*;
use crate::manage::{call, people};
use crate::web::Browser;

const ALL_TOPICS: [&str; 8] = [
    "detection_update",
    "notification_update",
    "group_updated",
    "layout_updated",
    "device_updated",
    "settings_updated",
    "access_updated",
    "queue_status",
];

/// Request headers of a handshake.
type Headers<'a> = Vec<(&'a str, &'a str)>;

pub struct Socket(WebSocketStream<TokioIo<Upgraded>>);

/// Opens `/ws` with `headers`; the status when the server refuses the handshake.
pub async fn open_ws(addr: &str, headers: &[(&str, &str)]) -> Result<Socket, u16> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn.with_upgrades());
    let mut req = hyper::Request::builder()
        .uri("/ws")
        .header("host", addr)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    if resp.status() != 101 {
        return Err(resp.status().as_u16());
    }
    let upgraded = hyper::upgrade::on(resp).await.unwrap();
    Ok(Socket(
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await,
    ))
}

impl Socket {
    pub async fn subscribe(&mut self, topics: &[&str]) {
        let msg = json!({"subscribe": topics}).to_string();
        self.0.send(Message::text(msg)).await.unwrap();
    }

    /// The next event, or `None` after `wait` without one.
    pub async fn next_event(&mut self, wait: Duration) -> Option<Value> {
        loop {
            match tokio::time::timeout(wait, self.0.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(&t).ok(),
                Ok(Some(Ok(_))) => continue,
                _ => return None,
            }
        }
    }

    /// Every event before the `layout_updated` of layout `marker` (which everyone hears).
    async fn events_until(&mut self, marker: i64) -> Vec<Value> {
        let mut seen = Vec::new();
        while let Some(e) = self.next_event(Duration::from_secs(10)).await {
            if e["type"] == "layout_updated" && e["data"]["id"] == marker {
                return seen;
            }
            seen.push(e);
        }
        panic!("the marker layout {marker} never arrived; saw {seen:?}");
    }
}

/// Creates a layout: an event every role hears, after everything sent before it.
async fn marker(app: &TestApp, admin: &str) -> i64 {
    let r = call(
        app,
        "POST",
        "/api/v1/cctv-layouts",
        Some(admin),
        Some(json!({"layout_name": format!("marker {}", uuid::Uuid::new_v4()), "layout_type": "4-window",
            "positions": (1..=4).map(|i| json!({"position_number": i})).collect::<Vec<_>>()})),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["data"]["id"].as_i64().unwrap()
}

/// Waits until every socket's subscription is in place: each hears a marker layout (a
/// marker sent before the server read the subscription is missed, so send another).
async fn ready(app: &TestApp, admin: &str, sockets: &mut [Socket]) {
    let mut waiting: Vec<usize> = (0..sockets.len()).collect();
    for _ in 0..50 {
        let id = marker(app, admin).await;
        let mut still = Vec::new();
        for &i in &waiting {
            let mut heard = false;
            while let Some(e) = sockets[i].next_event(Duration::from_millis(200)).await {
                if e["type"] == "layout_updated" && e["data"]["id"] == id {
                    heard = true;
                    break;
                }
            }
            if !heard {
                still.push(i);
            }
        }
        waiting = still;
        if waiting.is_empty() {
            return;
        }
    }
    panic!("sockets {waiting:?} never heard a layout change");
}

/// `type entity id` or `type @branch` of an event, for readable assertions.
fn label(e: &Value) -> String {
    match e["data"]["entity"].as_str() {
        Some(entity) => format!(
            "{} {entity} {}",
            e["type"].as_str().unwrap(),
            e["data"]["id"]
        ),
        None => format!("{} @{}", e["type"].as_str().unwrap(), e["branch_id"]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_takes_a_session_cookie_only_from_our_own_or_an_allowed_origin() {
    let app = spawn_app_with(
        Backend::Sqlite,
        AppOptions {
            allowed_origins: vec!["https://console.example".into()],
            ..Default::default()
        },
    )
    .await;
    let p = people(&app).await;
    let mut b = Browser::new(&app);
    assert_eq!(
        b.login("operator@cctv.test", "secret-pass-1").await.status,
        303
    );
    let cookie = b.cookie_header();
    let own = format!("http://{}", app.addr);
    let bearer = format!("Bearer {}", p.operator);
    let cases: [(&str, Headers, Result<(), u16>); 9] = [
        (
            "cookie from our page",
            vec![("cookie", &cookie), ("origin", &own)],
            Ok(()),
        ),
        (
            "cookie from an allowed origin",
            vec![("cookie", &cookie), ("origin", "https://console.example")],
            Ok(()),
        ),
        (
            "cookie from another site",
            vec![("cookie", &cookie), ("origin", "http://evil.example")],
            Err(403),
        ),
        (
            "cookie from a sandboxed page",
            vec![("cookie", &cookie), ("origin", "null")],
            Err(403),
        ),
        (
            "cookie without an origin",
            vec![("cookie", &cookie)],
            Err(401),
        ),
        (
            "bearer without an origin",
            vec![("authorization", &bearer)],
            Ok(()),
        ),
        (
            "bearer from another site",
            vec![
                ("authorization", &bearer),
                ("origin", "http://evil.example"),
            ],
            Err(403),
        ),
        (
            "our page without a session",
            vec![("origin", &own)],
            Err(401),
        ),
        ("nothing at all", vec![], Err(401)),
    ];
    for (what, headers, expected) in cases {
        let got = open_ws(&app.addr, &headers).await.map(|_| ());
        assert_eq!(got, expected, "{what}");
    }
    // An accepted cookie connection really streams events.
    let mut ws = open_ws(&app.addr, &[("cookie", &cookie), ("origin", &own)])
        .await
        .unwrap();
    ws.subscribe(&["layout_updated"]).await;
    ready(&app, &p.admin, std::slice::from_mut(&mut ws)).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_subscriber_hears_only_events_of_its_branches_role_and_own_account() {
    let app = spawn_app(Backend::Sqlite).await;
    let p = people(&app).await;
    // Each person's page, as a browser opens it: the session cookie, our origin.
    let own = format!("http://{}", app.addr);
    let mut sockets = Vec::new();
    for (email, password) in [
        ("admin@cctv.test", "admin-password-1"),
        ("operator@cctv.test", "secret-pass-1"),
        ("viewer@cctv.test", "secret-pass-1"),
    ] {
        let mut b = Browser::new(&app);
        assert_eq!(b.login(email, password).await.status, 303);
        let cookie = b.cookie_header();
        let mut ws = open_ws(&app.addr, &[("cookie", &cookie), ("origin", &own)])
            .await
            .unwrap();
        ws.subscribe(&ALL_TOPICS).await;
        sockets.push(ws);
    }
    ready(&app, &p.admin, &mut sockets).await;

    for n in [0, 1] {
        let r = app
            .post_json(&json!({"re_id": format!("WS{n}"), "branch_id": app.branch(n), "device_id": app.device(n)}))
            .await;
        app.wait_completed(r.body["data"]["job_id"].as_str().unwrap())
            .await;
    }
    let admin = Some(p.admin.as_str());
    for (path, body) in [
        (
            format!("/api/v1/users/{}", p.viewer_id),
            json!({"name": "Viewer 2"}),
        ),
        (
            format!("/api/v1/users/{}", p.operator_id),
            json!({"name": "Operator 2"}),
        ),
        (
            format!("/api/v1/device-masters/{}", app.estate.devices[0].id),
            json!({"device_name": "Gate 0"}),
        ),
        (
            format!("/api/v1/device-masters/{}", app.estate.devices[1].id),
            json!({"device_name": "Gate 1"}),
        ),
    ] {
        let r = call(&app, "PUT", &path, admin, Some(body)).await;
        assert_eq!(r.status, 200, "{path}: {:?}", r.body);
    }
    let credential = call(
        &app,
        "POST",
        "/api/v1/api-credentials",
        admin,
        Some(json!({"credential_name": "ws test"})),
    )
    .await;
    assert_eq!(credential.status, 201, "{:?}", credential.body);
    let whatsapp = call(
        &app,
        "POST",
        "/api/v1/whatsapp-settings",
        admin,
        Some(json!({"name": "ws", "phone_numbers": ["0812345678"], "message_template": "{re_id}"})),
    )
    .await;
    assert_eq!(whatsapp.status, 201, "{:?}", whatsapp.body);
    let group = call(
        &app,
        "POST",
        "/api/v1/company-groups",
        admin,
        Some(json!({"province_code": "BLI", "province_name": "Bali", "group_name": "Bali"})),
    )
    .await;
    assert_eq!(group.status, 201, "{:?}", group.body);
    let done = marker(&app, &p.admin).await;

    let (b0, b1) = (app.branch(0), app.branch(1));
    let (d0, d1) = (app.estate.devices[0].id, app.estate.devices[1].id);
    let everything = [
        format!("detection_update @{b0}"),
        format!("detection_update @{b1}"),
        format!("access_updated users {}", p.viewer_id),
        format!("access_updated users {}", p.operator_id),
        format!("device_updated device_masters {d0}"),
        format!("device_updated device_masters {d1}"),
        format!(
            "access_updated api_credentials {}",
            credential.body["data"]["id"]
        ),
        format!(
            "settings_updated whatsapp_settings {}",
            whatsapp.body["data"]["id"]
        ),
        format!("group_updated company_groups {}", group.body["data"]["id"]),
    ];
    let expected = [
        ("admin", everything.to_vec()),
        (
            "operator of branch 0",
            vec![
                everything[0].clone(),
                everything[3].clone(),
                everything[4].clone(),
            ],
        ),
        (
            "viewer",
            vec![
                everything[0].clone(),
                everything[1].clone(),
                everything[2].clone(),
                everything[4].clone(),
                everything[5].clone(),
                everything[8].clone(),
            ],
        ),
    ];
    for ((who, want), ws) in expected.into_iter().zip(&mut sockets) {
        let mut heard: Vec<String> = ws
            .events_until(done)
            .await
            .iter()
            .filter(|e| e["type"] != "queue_status" && e["type"] != "notification_update")
            .map(label)
            .collect();
        heard.sort();
        let mut want = want;
        want.sort();
        assert_eq!(heard, want, "{who}");
    }
    app.stop().await;
}
