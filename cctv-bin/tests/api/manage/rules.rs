//! Rules of the estate and of access: layouts, deactivation, the last admin, immediate
//! revocation, the audit trail, and the original's Postman requests against `cctv serve`.

use serde_json::{Value, json};

use super::{call, login, people};
use crate::helpers::*;

fn positions(n: usize) -> Value {
    (1..=n)
        .map(|i| json!({"position_number": i}))
        .collect::<Vec<_>>()
        .into()
}

async fn defaults(app: &TestApp, token: &str) -> Vec<i64> {
    let r = call(
        app,
        "GET",
        "/api/v1/cctv-layouts?per_page=100",
        Some(token),
        None,
    )
    .await;
    r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["is_default"] == true)
        .map(|l| l["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layouts_keep_their_position_count_a_single_default_and_an_undeletable_default() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let p = people(&app).await;
        let mut ids = Vec::new();
        for (name, kind, n) in [
            ("Four", "4-window", 4),
            ("Six", "6-window", 6),
            ("Eight", "8-window", 8),
        ] {
            let wrong = call(&app, "POST", "/api/v1/cctv-layouts", Some(&p.admin),
                Some(json!({"layout_name": name, "layout_type": kind, "positions": positions(n - 1)}))).await;
            assert_eq!(wrong.status, 422, "{kind} with {} positions", n - 1);
            let ok = call(&app, "POST", "/api/v1/cctv-layouts", Some(&p.admin),
                Some(json!({"layout_name": name, "layout_type": kind, "positions": positions(n), "is_default": true}))).await;
            assert_eq!(ok.status, 201, "{:?}", ok.body);
            assert_eq!(ok.body["data"]["total_positions"], n);
            ids.push(ok.body["data"]["id"].as_i64().unwrap());
            assert_eq!(
                defaults(&app, &p.admin).await,
                vec![*ids.last().unwrap()],
                "the newest default wins"
            );
        }
        let shown = call(
            &app,
            "GET",
            &format!("/api/v1/cctv-layouts/{}", ids[1]),
            Some(&p.viewer),
            None,
        )
        .await;
        assert_eq!(shown.body["data"]["positions"].as_array().unwrap().len(), 6);
        let set = call(
            &app,
            "POST",
            &format!("/api/v1/cctv-layouts/{}/set-default", ids[0]),
            Some(&p.admin),
            None,
        )
        .await;
        assert_eq!(set.status, 200);
        assert_eq!(defaults(&app, &p.admin).await, vec![ids[0]]);
        let refused = call(
            &app,
            "DELETE",
            &format!("/api/v1/cctv-layouts/{}", ids[0]),
            Some(&p.admin),
            None,
        )
        .await;
        assert_eq!(refused.status, 409);
        assert_eq!(refused.body["message"], "Cannot delete default layout.");
        let deleted = call(
            &app,
            "DELETE",
            &format!("/api/v1/cctv-layouts/{}", ids[2]),
            Some(&p.admin),
            None,
        )
        .await;
        assert_eq!(deleted.status, 200);
        let gone = call(
            &app,
            "GET",
            &format!("/api/v1/cctv-layouts/{}", ids[2]),
            Some(&p.admin),
            None,
        )
        .await;
        assert_eq!(gone.status, 404);
        // Changing the type needs the matching positions.
        let retype = call(
            &app,
            "PUT",
            &format!("/api/v1/cctv-layouts/{}", ids[0]),
            Some(&p.admin),
            Some(json!({"layout_type": "6-window"})),
        )
        .await;
        assert_eq!(retype.status, 422);
        let retyped = call(
            &app,
            "PUT",
            &format!("/api/v1/cctv-layouts/{}", ids[0]),
            Some(&p.admin),
            Some(json!({"layout_type": "6-window", "positions": positions(6)})),
        )
        .await;
        assert_eq!(retyped.status, 200, "{:?}", retyped.body);
        let shown = call(
            &app,
            "GET",
            &format!("/api/v1/cctv-layouts/{}", ids[0]),
            Some(&p.admin),
            None,
        )
        .await;
        assert_eq!(shown.body["data"]["positions"].as_array().unwrap().len(), 6);
        assert_eq!(shown.body["data"]["total_positions"], 6);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_and_branches_cannot_be_deactivated_while_they_have_active_children() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let p = people(&app).await;
        let group = app.estate.branches[0].group_id;
        let branch = app.branch(2);
        let g = call(
            &app,
            "DELETE",
            &format!("/api/v1/company-groups/{group}"),
            Some(&p.admin),
            None,
        )
        .await;
        assert_eq!(g.status, 409, "{:?}", g.body);
        let b = call(
            &app,
            "PUT",
            &format!("/api/v1/company-branches/{branch}"),
            Some(&p.admin),
            Some(json!({"status": "inactive"})),
        )
        .await;
        assert_eq!(b.status, 409);
        let still = call(
            &app,
            "GET",
            &format!("/api/v1/company-branches/{branch}"),
            Some(&p.admin),
            None,
        )
        .await;
        assert_eq!(
            still.body["data"]["status"], "active",
            "a refused change is rolled back"
        );
        // Deactivate bottom-up: devices, then branches, then the group.
        let devices = call(
            &app,
            "GET",
            "/api/v1/device-masters?per_page=100",
            Some(&p.admin),
            None,
        )
        .await;
        for d in devices.body["data"].as_array().unwrap() {
            let r = call(
                &app,
                "DELETE",
                &format!("/api/v1/device-masters/{}", d["id"]),
                Some(&p.admin),
                None,
            )
            .await;
            assert_eq!(r.status, 200);
            assert_eq!(r.body["data"]["status"], "inactive");
        }
        for i in 0..3 {
            let r = call(
                &app,
                "DELETE",
                &format!("/api/v1/company-branches/{}", app.branch(i)),
                Some(&p.admin),
                None,
            )
            .await;
            assert_eq!(r.status, 200, "{:?}", r.body);
        }
        let g = call(
            &app,
            "DELETE",
            &format!("/api/v1/company-groups/{group}"),
            Some(&p.admin),
            None,
        )
        .await;
        assert_eq!(g.status, 200);
        assert_eq!(g.body["data"]["status"], "inactive");
        // The ingest path sees the deactivation on the very next request.
        let r = app
            .post_json(
                &json!({"re_id": "R", "branch_id": app.branch(0), "device_id": app.device(0)}),
            )
            .await;
        assert_eq!(r.status, 422);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_admin_can_be_neither_demoted_nor_deleted() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let p = people(&app).await;
        let me = format!("/api/v1/users/{}", p.admin_id);
        let demote = call(
            &app,
            "PUT",
            &me,
            Some(&p.admin),
            Some(json!({"role": "viewer"})),
        )
        .await;
        assert_eq!(demote.status, 409, "{:?}", demote.body);
        let deactivate = call(
            &app,
            "PUT",
            &me,
            Some(&p.admin),
            Some(json!({"status": "inactive"})),
        )
        .await;
        assert_eq!(deactivate.status, 409);
        let self_delete = call(&app, "DELETE", &me, Some(&p.admin), None).await;
        assert_eq!(self_delete.status, 409);
        let second = call(&app, "POST", "/api/v1/users", Some(&p.admin),
            Some(json!({"name": "Two", "email": "two@cctv.test", "password": "second-admin-1", "role": "admin"}))).await;
        assert_eq!(second.status, 201);
        let two = login(&app, "two@cctv.test", "second-admin-1").await;
        let removed = call(&app, "DELETE", &me, Some(&two), None).await;
        assert_eq!(removed.status, 200);
        let gone = call(&app, "GET", "/api/me", Some(&p.admin), None).await;
        assert_eq!(gone.status, 401, "a deleted user's token stops working");
        let two_id = second.body["data"]["id"].as_i64().unwrap();
        let last = call(
            &app,
            "PUT",
            &format!("/api/v1/users/{two_id}"),
            Some(&two),
            Some(json!({"role": "operator"})),
        )
        .await;
        assert_eq!(last.status, 409);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_revoked_through_the_api_is_refused_on_the_very_next_request() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let p = people(&app).await;
        let created = call(
            &app,
            "POST",
            "/api/v1/api-credentials",
            Some(&p.admin),
            Some(json!({"credential_name": "edge", "branch_id": app.branch(0)})),
        )
        .await;
        let id = created.body["data"]["id"].as_i64().unwrap();
        let key = created.body["data"]["api_key"].as_str().unwrap().to_owned();
        let secret = created.body["data"]["api_secret"]
            .as_str()
            .unwrap()
            .to_owned();
        let post = |branch: usize| {
            let body = json!({"re_id": "R", "branch_id": app.branch(branch), "device_id": app.device(branch)});
            let (key, secret, addr) = (key.clone(), secret.clone(), app.addr.clone());
            async move {
                send(
                    &addr,
                    "POST",
                    "/api/v1/detection/log",
                    &[
                        ("x-api-key", &key),
                        ("x-api-secret", &secret),
                        ("content-type", "application/json"),
                    ],
                    serde_json::to_vec(&body).unwrap(),
                )
                .await
            }
        };
        assert_eq!(post(0).await.status, 202);
        assert_eq!(
            post(1).await.status,
            403,
            "branch-scoped: another branch is forbidden"
        );
        let regenerated = call(
            &app,
            "POST",
            &format!("/api/v1/api-credentials/{id}/regenerate"),
            Some(&p.admin),
            None,
        )
        .await;
        let new_secret = regenerated.body["data"]["api_secret"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_ne!(new_secret, secret);
        assert_eq!(
            post(0).await.status,
            401,
            "the old secret stops working at once"
        );
        let revoke = call(
            &app,
            "PUT",
            &format!("/api/v1/api-credentials/{id}"),
            Some(&p.admin),
            Some(json!({"status": "inactive"})),
        )
        .await;
        assert_eq!(revoke.status, 200);
        let with_new = send(
            &app.addr,
            "GET",
            "/api/v1/detections",
            &[("x-api-key", &key), ("x-api-secret", &new_secret)],
            vec![],
        )
        .await;
        assert_eq!(with_new.status, 401);
        assert_eq!(with_new.code(), "INVALID_CREDENTIALS");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_is_in_the_audit_log_with_who_what_and_before_after() {
    let app = spawn_app(Backend::Sqlite).await;
    let p = people(&app).await;
    let group = app.estate.branches[0].group_id;
    let r = call(
        &app,
        "PUT",
        &format!("/api/v1/company-groups/{group}"),
        Some(&p.admin),
        Some(json!({"group_name": "Renamed"})),
    )
    .await;
    assert_eq!(r.status, 200);
    let log = call(
        &app,
        "GET",
        "/api/v1/audit-logs?entity=company_groups",
        Some(&p.admin),
        None,
    )
    .await;
    let entry = &log.body["data"][0];
    assert_eq!(entry["action"], "update");
    assert_eq!(entry["user_email"], "admin@cctv.test");
    assert_eq!(entry["entity_id"], group.to_string());
    assert_eq!(entry["before_data"]["group_name"], "Jakarta Group");
    assert_eq!(entry["after_data"]["group_name"], "Renamed");
    let users = call(
        &app,
        "GET",
        "/api/v1/audit-logs?entity=users&action=create",
        Some(&p.admin),
        None,
    )
    .await;
    assert_eq!(
        users.body["pagination"]["total"], 3,
        "admin (CLI), operator and viewer"
    );
    assert_eq!(
        users.body["data"][0]["after_data"]["password_hash"],
        "[redacted]"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_failed_logins_are_throttled_with_retry_after() {
    let app = spawn_app(Backend::Sqlite).await;
    let _ = people(&app).await;
    for _ in 0..5 {
        let r = call(
            &app,
            "POST",
            "/api/login",
            None,
            Some(json!({"email": "admin@cctv.test", "password": "wrong-password"})),
        )
        .await;
        assert_eq!(r.status, 401);
        assert_eq!(r.body["message"], "Invalid credentials");
    }
    let r = call(
        &app,
        "POST",
        "/api/login",
        None,
        Some(json!({"email": "admin@cctv.test", "password": "admin-password-1"})),
    )
    .await;
    assert_eq!(
        r.status, 429,
        "even the right password waits out the lockout"
    );
    assert!(r.headers["retry-after"].parse::<u64>().unwrap() > 0);
    let unknown = call(
        &app,
        "POST",
        "/api/login",
        None,
        Some(json!({"email": "nobody@cctv.test"})),
    )
    .await;
    assert_eq!(unknown.status, 422);
    assert!(unknown.body["error"]["details"]["password"].is_array());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_publish_their_event_with_the_branch_they_concern() {
    let app = spawn_app(Backend::Sqlite).await;
    let p = people(&app).await;
    let mut events = app.core.events().subscribe();
    let group = app.estate.branches[0].group_id;
    call(
        &app,
        "PUT",
        &format!("/api/v1/company-groups/{group}"),
        Some(&p.admin),
        Some(json!({"group_name": "G2"})),
    )
    .await;
    call(
        &app,
        "PUT",
        &format!("/api/v1/company-branches/{}", app.branch(1)),
        Some(&p.admin),
        Some(json!({"branch_name": "B2"})),
    )
    .await;
    call(
        &app,
        "POST",
        "/api/v1/cctv-layouts",
        Some(&p.admin),
        Some(json!({"layout_name": "L", "layout_type": "4-window", "positions": positions(4)})),
    )
    .await;
    call(
        &app,
        "POST",
        "/api/v1/device-masters",
        Some(&p.operator),
        Some(json!({"device_id": "EV_1", "device_name": "d", "branch_id": app.branch(0)})),
    )
    .await;
    call(&app, "POST", "/api/v1/branch-event-settings", Some(&p.admin), Some(json!({"branch_id": app.branch(1), "device_id": app.device(1), "whatsapp_enabled": true}))).await;
    let mut seen = Vec::new();
    while let Ok(Ok(e)) =
        tokio::time::timeout(std::time::Duration::from_millis(200), events.recv()).await
    {
        let e = serde_json::to_value(&e).unwrap();
        seen.push((
            e["type"].as_str().unwrap().to_owned(),
            e["branch_id"].as_i64(),
            e["data"]["action"].as_str().unwrap().to_owned(),
        ));
    }
    let want = vec![
        ("group_updated".to_owned(), None, "update".to_owned()),
        (
            "group_updated".to_owned(),
            Some(app.branch(1)),
            "update".to_owned(),
        ),
        ("layout_updated".to_owned(), None, "create".to_owned()),
        (
            "device_updated".to_owned(),
            Some(app.branch(0)),
            "create".to_owned(),
        ),
        (
            "settings_updated".to_owned(),
            Some(app.branch(1)),
            "create".to_owned(),
        ),
    ];
    assert_eq!(seen, want);
    app.stop().await;
}
