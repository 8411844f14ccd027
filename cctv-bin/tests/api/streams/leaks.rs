//! Every route and page that can show a stream or a device, read by an admin, an operator
//! and a viewer: no camera password anywhere, no URL with user info, and the camera user
//! name only for admins. Events published for the live pages carry none either.

use super::gateway::with_gateway;
use super::*;
use crate::manage::people;
use crate::web::Browser;

/// The first `scheme://user@host` in `text`.
fn user_info(text: &str) -> Option<String> {
    text.match_indices("://").find_map(|(at, _)| {
        let authority: String = text[at + 3..]
            .chars()
            .take_while(|c| {
                !matches!(c, '/' | '"' | '\'' | '<' | '>' | '?' | '#' | '\\') && !c.is_whitespace()
            })
            .collect();
        authority
            .contains('@')
            .then(|| text[at..at + 3 + authority.len()].to_owned())
    })
}

/// `body` with HTML escaping undone, so an escaped secret is still found.
fn unescaped(body: &str) -> String {
    body.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn assert_clean(what: &str, body: &str, password: &str, user: Option<&str>) {
    let body = unescaped(body);
    let body = body.as_str();
    for secret in [
        password.to_owned(),
        cctv_admin::stream_url::percent_encode(password),
    ] {
        assert!(
            !body.contains(&secret),
            "{what}: the camera password is in it"
        );
    }
    assert_eq!(user_info(body), None, "{what}: a URL with user info");
    if let Some(user) = user {
        assert!(
            !body.contains(user),
            "{what}: the camera user name is in it"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_page_or_event_shows_a_camera_password_or_user_info() {
    for backend in backends() {
        let app = spawn_app_with(backend, with_gateway()).await;
        let p = people(&app).await;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let user = format!("camuser{}", &id[..12]);
        let password = format!("Pw@/{}:x", &id[12..]);
        let creds = Some((user.as_str(), password.as_str()));
        let cam = FakeCamera::start(&user, &password).await;
        let b0 = app.branch(0);
        let enc = cctv_admin::stream_url::percent_encode;
        let in_url = format!("rtsp://{}:{}@10.1.2.3:554/live", enc(&user), enc(&password));
        let in_query = cam.url(&format!("/video.mjpg?pwd={}", enc(&password)));
        let devices = [
            camera(
                &app,
                &p.admin,
                "CAM_SNAP",
                b0,
                &cam.url("/snapshot.jpg"),
                creds,
            )
            .await,
            camera(&app, &p.admin, "CAM_RTSP", b0, &in_url, None).await,
            camera(&app, &p.admin, "CAM_QUERY", b0, &in_query, creds).await,
        ];
        let plain = call(&app, "POST", "/api/v1/device-masters", Some(&p.admin), Some(json!({
            "device_id": "NODE_1", "device_name": "Node", "device_type": "node_ai", "branch_id": b0,
            "url": format!("http://{user}:{}@10.1.2.9/api", enc(&password)), "username": user, "password": password,
        }))).await;
        assert_eq!(plain.status, 201, "{:?}", plain.body);
        let streams = call(
            &app,
            "GET",
            "/api/v1/cctv-streams?per_page=100",
            Some(&p.admin),
            None,
        )
        .await;
        let stream_ids: Vec<i64> = streams.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_i64().unwrap())
            .collect();
        assert_eq!(stream_ids.len(), 3);
        let layout = layout_with(&app, &p.admin, b0, "CAM_SNAP").await;
        for (n, device) in [(2, "CAM_RTSP"), (3, "CAM_QUERY")] {
            let r = call(
                &app,
                "PUT",
                &format!("/api/v1/cctv/layouts/{layout}/positions/{n}"),
                Some(&p.admin),
                Some(json!({"branch_id": b0, "device_id": device})),
            )
            .await;
            assert_eq!(r.status, 200);
        }
        let mut events = app.core.events().subscribe();
        let r = call(
            &app,
            "PATCH",
            &format!("/api/v1/cctv-streams/{}", stream_ids[0]),
            Some(&p.admin),
            Some(json!({"password": password, "fps": 10})),
        )
        .await;
        assert_eq!(r.status, 200);

        let mut apis = vec![
            "/api/v1/device-masters?per_page=100".to_owned(),
            "/api/v1/cctv-streams?per_page=100".to_owned(),
            format!("/api/v1/cctv-layouts/{layout}"),
            "/api/v1/audit-logs?per_page=100".to_owned(),
        ];
        let mut pages = vec![
            "/devices".to_owned(),
            "/streams".to_owned(),
            format!("/live?layout_id={layout}"),
            "/dashboard".to_owned(),
        ];
        for id in devices
            .iter()
            .chain([&plain.body["data"]["id"].as_i64().unwrap()])
        {
            apis.push(format!("/api/v1/device-masters/{id}"));
            pages.push(format!("/devices/{id}/edit"));
        }
        for id in &stream_ids {
            apis.push(format!("/api/v1/cctv-streams/{id}"));
            pages.push(format!("/streams/{id}/edit"));
        }
        for device in ["CAM_SNAP", "CAM_RTSP", "CAM_QUERY"] {
            apis.push(format!("/api/v1/cctv/streams/{device}"));
        }

        let people = [
            ("admin", &p.admin, "admin@cctv.test", "admin-password-1"),
            (
                "operator",
                &p.operator,
                "operator@cctv.test",
                "secret-pass-1",
            ),
            ("viewer", &p.viewer, "viewer@cctv.test", "secret-pass-1"),
        ];
        for (role, token, email, login_password) in people {
            let hidden_user = (role != "admin").then_some(user.as_str());
            for path in &apis {
                let r = call(&app, "GET", path, Some(token), None).await;
                assert!(
                    r.status == 200 || (r.status == 403 && path.contains("audit")),
                    "{role} {path}: {}",
                    r.status
                );
                assert_clean(
                    &format!("{role} {path}"),
                    &r.body.to_string(),
                    &password,
                    hidden_user,
                );
            }
            let mut browser = Browser::new(&app);
            browser.login(email, login_password).await;
            for path in &pages {
                let page = browser.get(path).await;
                // Viewers may not use edit forms at all (403); the refusal is checked too.
                let refused = role == "viewer" && path.ends_with("/edit");
                assert_eq!(
                    page.status,
                    if refused { 403 } else { 200 },
                    "{role} {path}"
                );
                assert_clean(
                    &format!("{role} page {path}"),
                    &page.body,
                    &password,
                    hidden_user,
                );
            }
        }
        let mut published = 0;
        while let Ok(event) = events.try_recv() {
            published += 1;
            let text = serde_json::to_string(&event).unwrap();
            assert_clean("event", &text, &password, Some(&user));
        }
        assert!(published > 0, "the change was published");
        // The camera itself did get them, from the proxy only.
        let (status, _, _) = get_bytes(
            &app,
            "/api/v1/cctv/streams/CAM_SNAP/proxy",
            &[("authorization", &bearer(&p.viewer))],
        )
        .await;
        assert_eq!(status, 200);
        app.stop().await;
    }
}
