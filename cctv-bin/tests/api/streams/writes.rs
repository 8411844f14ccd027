//! Admins replace camera credentials (API and edit form) without ever reading them back;
//! a form sent back as shown keeps what it could not show.

use super::*;
use crate::manage::people;
use crate::web::{Browser, csrf_of};

const USER: &str = "new-user";
const PASSWORD: &str = "new-pass-42";

async fn snapshot(app: &TestApp, token: &str) -> u16 {
    call(
        app,
        "GET",
        "/api/v1/cctv/streams/CAM_SNAP/proxy",
        Some(token),
        None,
    )
    .await
    .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_replace_camera_credentials_but_never_read_them_back() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let p = people(&app).await;
        let cam = FakeCamera::start(USER, PASSWORD).await;
        let b0 = app.branch(0);
        let url = cam.url("/snapshot.jpg?chn=1&token=qtok-123");
        camera(
            &app,
            &p.admin,
            "CAM_SNAP",
            b0,
            &url,
            Some(("old-user", "old-pass")),
        )
        .await;
        assert_eq!(
            snapshot(&app, &p.admin).await,
            502,
            "the camera refuses the old ones"
        );
        let list = call(
            &app,
            "GET",
            "/api/v1/cctv-streams?device_id=CAM_SNAP",
            Some(&p.admin),
            None,
        )
        .await;
        let stream = &list.body["data"][0];
        let sid = stream["id"].as_i64().unwrap();
        assert_eq!(stream["has_password"], true);
        assert_eq!(stream["username"], "old-user", "admins see the user name");
        assert!(
            stream["stream_url"]
                .as_str()
                .unwrap()
                .ends_with("/snapshot.jpg?chn=1&token=***")
        );
        assert!(!list.body.to_string().contains("old-pass"));

        let path = format!("/api/v1/cctv-streams/{sid}");
        let r = call(
            &app,
            "PATCH",
            &path,
            Some(&p.admin),
            Some(json!({"username": USER, "password": PASSWORD})),
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["data"]["has_password"], true);
        assert!(!r.body.to_string().contains(PASSWORD));
        assert_eq!(
            snapshot(&app, &p.admin).await,
            200,
            "the new credentials reach the camera"
        );
        let last = cam.seen_at("/snapshot.jpg").pop().unwrap();
        assert_eq!(last.query.as_deref(), Some("chn=1&token=qtok-123"));

        // The edit form shows the masked URL, the user name to the admin, no password; sent
        // back as shown, it keeps the URL and the credentials.
        let mut admin = Browser::new(&app);
        admin.login("admin@cctv.test", "admin-password-1").await;
        let form = admin.get(&format!("/streams/{sid}/edit")).await;
        assert_eq!(form.status, 200);
        let html = form.body.replace("&#x2f;", "/").replace("&amp;", "&");
        assert!(html.contains("token=***"), "{html}");
        assert!(html.contains(&format!("value=\"{USER}\"")));
        assert!(!html.contains(PASSWORD) && !html.contains("qtok-123"));
        assert!(html.contains("A value is stored; it is not shown."));
        let shown_url = stream["stream_url"].as_str().unwrap().to_owned();
        let csrf = csrf_of(&form.body);
        let fields = |extra: &'static [(&'static str, &'static str)]| {
            let mut f: Vec<(&str, String)> = vec![
                ("_csrf", csrf.clone()),
                ("branch_id", b0.to_string()),
                ("device_id", "CAM_SNAP".into()),
                ("stream_name", "Gate".into()),
                ("url", shown_url.clone()),
                ("username", String::new()),
                ("password", String::new()),
                ("stream_protocol", "http".into()),
                ("position", "1".into()),
                ("resolution", "1920x1080".into()),
                ("fps", "30".into()),
            ];
            f.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
            f
        };
        let as_is = fields(&[]);
        let refs: Vec<(&str, &str)> = as_is.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let saved = admin.post(&format!("/streams/{sid}"), &refs).await;
        assert_eq!(saved.status, 303, "{}", saved.body);
        assert_eq!(snapshot(&app, &p.admin).await, 200, "credentials kept");
        let last = cam.seen_at("/snapshot.jpg").pop().unwrap();
        assert_eq!(
            last.query.as_deref(),
            Some("chn=1&token=qtok-123"),
            "the URL kept"
        );

        let mut operator = Browser::new(&app);
        operator.login("operator@cctv.test", "secret-pass-1").await;
        let form = operator.get(&format!("/streams/{sid}/edit")).await;
        assert_eq!(form.status, 200);
        assert!(
            !form.body.contains(USER),
            "operators never see the user name"
        );

        let cleared = fields(&[("clear_credentials", "1")]);
        let refs: Vec<(&str, &str)> = cleared.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let saved = admin.post(&format!("/streams/{sid}"), &refs).await;
        assert_eq!(saved.status, 303, "{}", saved.body);
        let shown = call(&app, "GET", &path, Some(&p.admin), None).await;
        assert_eq!(shown.body["data"]["has_password"], false);
        assert_eq!(shown.body["data"]["has_username"], false);
        assert_eq!(
            snapshot(&app, &p.admin).await,
            502,
            "no credentials, the camera refuses"
        );

        // Typed into the URL, credentials move to their columns.
        let typed = cam.url_with_user_info(&format!("{USER}:{PASSWORD}"), "/snapshot.jpg");
        let r = call(
            &app,
            "PATCH",
            &path,
            Some(&p.admin),
            Some(json!({"url": typed})),
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["data"]["stream_url"], cam.url("/snapshot.jpg"));
        assert_eq!(r.body["data"]["has_password"], true);
        assert_eq!(snapshot(&app, &p.admin).await, 200);
        app.stop().await;
    }
}
