//! Every form and admin page for every role: a page a role may not use answers 403
//! (viewers change nothing; operators change devices, streams and event settings of
//! their own branch only; administration is for admins), and lists offer no links to
//! forms the person would be refused.

use serde_json::json;

use crate::helpers::*;
use crate::manage::{call, people};
use crate::web::{Browser, csrf_of};

const OK: u16 = 200;
const NO: u16 = 403;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_form_and_admin_page_answers_403_to_a_role_that_may_not_use_it() {
    let app = spawn_app(Backend::Sqlite).await;
    let p = people(&app).await;
    let admin = Some(p.admin.as_str());
    let created = async |path: &str, body: serde_json::Value| -> i64 {
        let r = call(&app, "POST", path, admin, Some(body)).await;
        assert_eq!(r.status, 201, "{path}: {:?}", r.body);
        r.body["data"]["id"].as_i64().unwrap()
    };
    let mut streams = Vec::new();
    let mut settings = Vec::new();
    for n in [0, 1] {
        let (branch, device) = (app.branch(n), app.device(n));
        streams.push(
            created(
                "/api/v1/cctv-streams",
                json!({"branch_id": branch, "device_id": device,
            "stream_name": format!("S{n}"), "url": "rtsp://10.0.0.1/live"}),
            )
            .await,
        );
        settings.push(
            created(
                "/api/v1/branch-event-settings",
                json!({"branch_id": branch, "device_id": device, "is_active": true}),
            )
            .await,
        );
    }
    let whatsapp = created(
        "/api/v1/whatsapp-settings",
        json!({"name": "W", "phone_numbers": ["0812345678"], "message_template": "{re_id}"}),
    )
    .await;
    let credential = created("/api/v1/api-credentials", json!({"credential_name": "C"})).await;
    let audit = call(&app, "GET", "/api/v1/audit-logs?per_page=1", admin, None).await;
    let audit = audit.body["data"][0]["id"].as_i64().unwrap();
    let group = app.estate.branches[0].group_id;
    let (d0, d1) = (app.estate.devices[0].id, app.estate.devices[1].id);

    // Expected status for [admin, operator of branch 0, viewer].
    let pages: Vec<(String, [u16; 3])> = vec![
        ("/groups/new".into(), [OK, NO, NO]),
        (format!("/groups/{group}/edit"), [OK, NO, NO]),
        ("/branches/new".into(), [OK, NO, NO]),
        (format!("/branches/{}/edit", app.branch(0)), [OK, NO, NO]),
        ("/devices/new".into(), [OK, OK, NO]),
        (format!("/devices/{d0}/edit"), [OK, OK, NO]),
        (format!("/devices/{d1}/edit"), [OK, NO, NO]),
        ("/streams/new".into(), [OK, OK, NO]),
        (format!("/streams/{}/edit", streams[0]), [OK, OK, NO]),
        (format!("/streams/{}/edit", streams[1]), [OK, NO, NO]),
        ("/event-settings/new".into(), [OK, OK, NO]),
        (
            format!("/event-settings/{}/edit", settings[0]),
            [OK, OK, NO],
        ),
        (
            format!("/event-settings/{}/edit", settings[1]),
            [OK, NO, NO],
        ),
        ("/users/new".into(), [OK, NO, NO]),
        (format!("/users/{}/edit", p.viewer_id), [OK, NO, NO]),
        ("/whatsapp-settings/new".into(), [OK, NO, NO]),
        (format!("/whatsapp-settings/{whatsapp}/edit"), [OK, NO, NO]),
        ("/api-credentials/new".into(), [OK, NO, NO]),
        (format!("/api-credentials/{credential}/edit"), [OK, NO, NO]),
        (format!("/api-credentials/{credential}/test"), [OK, NO, NO]),
        // The audit log is written by the system only.
        ("/audit-logs/new".into(), [NO, NO, NO]),
        (format!("/audit-logs/{audit}/edit"), [NO, NO, NO]),
        ("/admin/queues".into(), [OK, NO, NO]),
        ("/admin/schedule".into(), [OK, NO, NO]),
        ("/admin/usage".into(), [OK, NO, NO]),
    ];
    let logins = [
        ("admin@cctv.test", "admin-password-1"),
        ("operator@cctv.test", "secret-pass-1"),
        ("viewer@cctv.test", "secret-pass-1"),
    ];
    for (i, (email, password)) in logins.into_iter().enumerate() {
        let mut b = Browser::new(&app);
        assert_eq!(b.login(email, password).await.status, 303);
        for (path, expected) in &pages {
            let page = b.get(path).await;
            assert_eq!(page.status, expected[i], "{email} GET {path}");
            if page.status == NO {
                assert!(
                    !page.body.contains("id=\"resource-form\""),
                    "{email} {path} shows no form"
                );
            }
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_link_only_to_forms_the_person_may_use_and_submissions_are_refused() {
    let app = spawn_app(Backend::Sqlite).await;
    let _ = people(&app).await;
    let d0 = app.estate.devices[0].id;
    let mut viewer = Browser::new(&app);
    viewer.login("viewer@cctv.test", "secret-pass-1").await;
    let devices = viewer.get("/devices").await;
    assert_eq!(devices.status, 200);
    let html = devices.body.replace("&#x2f;", "/");
    assert!(
        !html.contains("/devices/new"),
        "a viewer is offered no new-device form"
    );
    assert!(
        !html.contains("/edit\""),
        "a viewer is offered no edit form"
    );
    let csrf = csrf_of(&devices.body);
    let refused = viewer
        .post(
            &format!("/devices/{d0}"),
            &[("_csrf", &csrf), ("device_name", "x")],
        )
        .await;
    assert_eq!(refused.status, 403);

    let mut operator = Browser::new(&app);
    operator.login("operator@cctv.test", "secret-pass-1").await;
    let groups = operator.get("/groups").await.body.replace("&#x2f;", "/");
    assert!(
        !groups.contains("/groups/new"),
        "operators do not create groups"
    );
    assert!(!groups.contains("/edit\""), "operators do not edit groups");
    let devices = operator.get("/devices").await.body.replace("&#x2f;", "/");
    assert!(devices.contains("/devices/new"), "operators add devices");
    assert!(devices.contains(&format!("/devices/{d0}/edit")));

    // The live view's position picker: a viewer's submission is refused with a 403.
    let p = crate::manage::login(&app, "admin@cctv.test", "admin-password-1").await;
    let layout = call(
        &app,
        "POST",
        "/api/v1/cctv-layouts",
        Some(&p),
        Some(json!({
        "layout_name": "Lobby", "layout_type": "4-window", "is_default": true,
        "positions": (1..=4).map(|i| json!({"position_number": i})).collect::<Vec<_>>()})),
    )
    .await;
    let layout = layout.body["data"]["id"].as_i64().unwrap();
    let saved = viewer
        .post(
            &format!("/live/{layout}/positions/1"),
            &[
                ("_csrf", &csrf),
                ("branch_id", &app.branch(0).to_string()),
                ("device_id", app.device(0)),
            ],
        )
        .await;
    assert_eq!(saved.status, 403);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_settings_form_shows_webhook_secrets_to_admins_only_and_an_operators_save_keeps_them()
 {
    let app = spawn_app(Backend::Sqlite).await;
    let p = people(&app).await;
    let url = "http://127.0.0.1:9/hooks/T0K3N";
    let created = call(
        &app,
        "POST",
        "/api/v1/branch-event-settings",
        Some(&p.admin),
        Some(json!({
            "branch_id": app.branch(0), "device_id": app.device(0), "is_active": true,
            "webhook_enabled": true, "webhook_urls": [url],
        })),
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["data"]["id"].as_i64().unwrap();
    let secret = created.body["data"]["webhook_secrets"][url]
        .as_str()
        .unwrap()
        .to_owned();
    let edit = format!("/event-settings/{id}/edit");

    let mut admin = Browser::new(&app);
    admin.login("admin@cctv.test", "admin-password-1").await;
    let page = admin.get(&edit).await;
    let html = page.body.replace("&#x2f;", "/").replace("&#x3d;", "=");
    assert!(html.contains(&secret), "the admin is shown the secret");

    let mut operator = Browser::new(&app);
    operator.login("operator@cctv.test", "secret-pass-1").await;
    let page = operator.get(&edit).await;
    assert_eq!(page.status, 200);
    let html = page.body.replace("&#x2f;", "/").replace("&#x3d;", "=");
    assert!(!html.contains(&secret) && !html.contains("T0K3N"));
    let shown = call(
        &app,
        "GET",
        &format!("/api/v1/branch-event-settings/{id}"),
        Some(&p.operator),
        None,
    )
    .await;
    let label = shown.body["data"]["webhook_urls"][0]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        page.body.replace("&#x2f;", "/").contains(&label),
        "the form shows the label"
    );
    let csrf = csrf_of(&page.body);
    let saved = operator
        .post(
            &format!("/event-settings/{id}"),
            &[
                ("_csrf", &csrf),
                ("is_active", "on"),
                ("webhook_enabled", "on"),
                ("webhook_urls", &label),
                ("message_template", "{re_id} seen"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let after = call(
        &app,
        "GET",
        &format!("/api/v1/branch-event-settings/{id}"),
        Some(&p.admin),
        None,
    )
    .await;
    assert_eq!(after.body["data"]["webhook_secrets"][url], secret.as_str());
    assert_eq!(after.body["data"]["message_template"], "{re_id} seen");
    app.stop().await;
}
