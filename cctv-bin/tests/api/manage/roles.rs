//! The role matrix: every management route for admin, operator (own branch and another
//! branch), viewer and anonymous callers.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use super::{call, people};
use crate::helpers::*;

type Body = Box<dyn Fn(usize) -> Value>;

struct Row {
    method: &'static str,
    path: String,
    body: Option<Body>,
    /// Expected status for admin, operator (of branch 0), viewer, anonymous.
    expect: [u16; 4],
}

fn row(method: &'static str, path: String, expect: [u16; 4]) -> Row {
    Row {
        method,
        path,
        body: None,
        expect,
    }
}

fn with(
    method: &'static str,
    path: String,
    body: impl Fn(usize) -> Value + 'static,
    expect: [u16; 4],
) -> Row {
    Row {
        method,
        path,
        body: Some(Box::new(body)),
        expect,
    }
}

async fn created_id(app: &TestApp, token: &str, path: &str, body: Value) -> i64 {
    let r = call(app, "POST", path, Some(token), Some(body)).await;
    assert_eq!(r.status, 201, "{path}: {:?}", r.body);
    r.body["data"]["id"].as_i64().unwrap()
}

async fn device_row_id(app: &TestApp, token: &str, device_id: &str) -> i64 {
    let r = call(
        app,
        "GET",
        &format!("/api/v1/device-masters?search={device_id}"),
        Some(token),
        None,
    )
    .await;
    r.body["data"][0]["id"].as_i64().unwrap()
}

async fn person_seen_in(app: &TestApp, re_id: &str, branch: usize) {
    let r = app
        .post_json(&json!({"re_id": re_id, "branch_id": app.branch(branch), "device_id": app.device(branch)}))
        .await;
    assert_eq!(r.status, 202);
    app.wait_completed(r.body["data"]["job_id"].as_str().unwrap())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_management_route_answers_each_role_as_the_matrix_says() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let p = people(&app).await;
        let (b0, b1) = (app.branch(0), app.branch(1));
        let group = app.estate.branches[0].group_id;
        let d0 = device_row_id(&app, &p.admin, app.device(0)).await;
        let d1 = device_row_id(&app, &p.admin, app.device(1)).await;
        let stream = |branch: i64, device: &str, n: usize| json!({"branch_id": branch, "device_id": device, "stream_name": format!("S{n}"), "url": "http://cam.local/live.m3u8"});
        let s0 = created_id(
            &app,
            &p.admin,
            "/api/v1/cctv-streams",
            stream(b0, app.device(0), 0),
        )
        .await;
        let s1 = created_id(
            &app,
            &p.admin,
            "/api/v1/cctv-streams",
            stream(b1, app.device(1), 1),
        )
        .await;
        let e0 = created_id(
            &app,
            &p.admin,
            "/api/v1/branch-event-settings",
            json!({"branch_id": b0, "device_id": app.device(0)}),
        )
        .await;
        let e1 = created_id(
            &app,
            &p.admin,
            "/api/v1/branch-event-settings",
            json!({"branch_id": b1, "device_id": app.device(1)}),
        )
        .await;
        let positions = |n: usize| -> Value {
            (1..=n)
                .map(|i| json!({"position_number": i}))
                .collect::<Vec<_>>()
                .into()
        };
        let layout = created_id(
            &app,
            &p.admin,
            "/api/v1/cctv-layouts",
            json!({"layout_name": "L", "layout_type": "4-window", "positions": positions(4)}),
        )
        .await;
        let cred = created_id(
            &app,
            &p.admin,
            "/api/v1/api-credentials",
            json!({"credential_name": "c"}),
        )
        .await;
        let extra0 = created_id(
            &app,
            &p.admin,
            "/api/v1/device-masters",
            json!({"device_id": "EXTRA_0", "device_name": "x", "branch_id": b0}),
        )
        .await;
        let extra1 = created_id(
            &app,
            &p.admin,
            "/api/v1/device-masters",
            json!({"device_id": "EXTRA_1", "device_name": "x", "branch_id": b1}),
        )
        .await;
        person_seen_in(&app, "R_OWN", 0).await;
        person_seen_in(&app, "R_OTHER", 1).await;
        let (dev0, dev1) = (app.device(0).to_owned(), app.device(1).to_owned());

        let v = "/api/v1";
        let rows = vec![
            row("GET", "/api/me".into(), [200, 200, 200, 401]),
            row("GET", format!("{v}/company-groups"), [200, 200, 200, 401]),
            row(
                "GET",
                format!("{v}/company-groups/{group}"),
                [200, 200, 200, 401],
            ),
            row(
                "GET",
                format!("{v}/company-groups/{group}/branches"),
                [200, 200, 200, 401],
            ),
            with(
                "POST",
                format!("{v}/company-groups"),
                |n| json!({"province_code": format!("P{n}"), "province_name": "P", "group_name": "G"}),
                [201, 403, 403, 401],
            ),
            with(
                "PUT",
                format!("{v}/company-groups/{group}"),
                |_| json!({"group_name": "Renamed"}),
                [200, 403, 403, 401],
            ),
            row("GET", format!("{v}/company-branches"), [200, 200, 200, 401]),
            row(
                "GET",
                format!("{v}/company-branches/{b0}"),
                [200, 200, 200, 401],
            ),
            row(
                "GET",
                format!("{v}/company-branches/{b1}"),
                [200, 403, 200, 401],
            ),
            with(
                "POST",
                format!("{v}/company-branches"),
                move |n| json!({"group_id": group, "branch_code": format!("NEW{n}"), "branch_name": "N", "city": "C"}),
                [201, 403, 403, 401],
            ),
            with(
                "PUT",
                format!("{v}/company-branches/{b0}"),
                |_| json!({"branch_name": "Renamed"}),
                [200, 403, 403, 401],
            ),
            row("GET", format!("{v}/device-masters"), [200, 200, 200, 401]),
            row(
                "GET",
                format!("{v}/device-masters/{d0}"),
                [200, 200, 200, 401],
            ),
            row(
                "GET",
                format!("{v}/device-masters/{d1}"),
                [200, 403, 200, 401],
            ),
            with(
                "POST",
                format!("{v}/device-masters"),
                move |n| json!({"device_id": format!("D0_{n}"), "device_name": "d", "branch_id": b0}),
                [201, 201, 403, 401],
            ),
            with(
                "POST",
                format!("{v}/device-masters"),
                move |n| json!({"device_id": format!("D1_{n}"), "device_name": "d", "branch_id": b1}),
                [201, 403, 403, 401],
            ),
            with(
                "PUT",
                format!("{v}/device-masters/{d0}"),
                |_| json!({"device_name": "Renamed"}),
                [200, 200, 403, 401],
            ),
            with(
                "PUT",
                format!("{v}/device-masters/{d1}"),
                |_| json!({"device_name": "Renamed"}),
                [200, 403, 403, 401],
            ),
            row(
                "DELETE",
                format!("{v}/device-masters/{extra0}"),
                [200, 200, 403, 401],
            ),
            row(
                "DELETE",
                format!("{v}/device-masters/{extra1}"),
                [200, 403, 403, 401],
            ),
            row("GET", format!("{v}/users"), [200, 403, 403, 401]),
            row(
                "GET",
                format!("{v}/users/pagination/options"),
                [200, 200, 200, 401],
            ),
            row(
                "GET",
                format!("{v}/users/{}", p.operator_id),
                [200, 403, 403, 401],
            ),
            with(
                "POST",
                format!("{v}/users"),
                |n| json!({"name": "U", "email": format!("u{n}@cctv.test"), "password": "long-enough-1", "role": "viewer"}),
                [201, 403, 403, 401],
            ),
            with(
                "PUT",
                format!("{v}/users/{}", p.operator_id),
                |_| json!({"name": "Op"}),
                [200, 403, 403, 401],
            ),
            row("GET", format!("{v}/api-credentials"), [200, 403, 403, 401]),
            row(
                "GET",
                format!("{v}/api-credentials/{cred}"),
                [200, 403, 403, 401],
            ),
            with(
                "POST",
                format!("{v}/api-credentials"),
                |n| json!({"credential_name": format!("c{n}")}),
                [201, 403, 403, 401],
            ),
            row(
                "POST",
                format!("{v}/api-credentials/{cred}/regenerate"),
                [200, 403, 403, 401],
            ),
            row("GET", format!("{v}/cctv-streams"), [200, 200, 200, 401]),
            row(
                "GET",
                format!("{v}/cctv-streams/{s0}"),
                [200, 200, 200, 401],
            ),
            row(
                "GET",
                format!("{v}/cctv-streams/{s1}"),
                [200, 403, 200, 401],
            ),
            with(
                "POST",
                format!("{v}/cctv-streams"),
                {
                    let d = dev0.clone();
                    move |n| stream(b0, &d, n)
                },
                [201, 201, 403, 401],
            ),
            with(
                "POST",
                format!("{v}/cctv-streams"),
                {
                    let d = dev1.clone();
                    move |n| stream(b1, &d, n)
                },
                [201, 403, 403, 401],
            ),
            with(
                "PUT",
                format!("{v}/cctv-streams/{s0}"),
                |_| json!({"fps": 15}),
                [200, 200, 403, 401],
            ),
            with(
                "PUT",
                format!("{v}/cctv-streams/{s1}"),
                |_| json!({"fps": 15}),
                [200, 403, 403, 401],
            ),
            row(
                "GET",
                format!("{v}/cctv/streams/{dev0}"),
                [200, 200, 200, 401],
            ),
            row(
                "GET",
                format!("{v}/cctv/streams/{dev1}"),
                [200, 403, 200, 401],
            ),
            row("GET", format!("{v}/cctv-layouts"), [200, 200, 200, 401]),
            row(
                "GET",
                format!("{v}/cctv-layouts/{layout}"),
                [200, 200, 200, 401],
            ),
            with(
                "POST",
                format!("{v}/cctv-layouts"),
                move |n| json!({"layout_name": format!("L{n}"), "layout_type": "4-window", "positions": positions(4)}),
                [201, 403, 403, 401],
            ),
            row(
                "POST",
                format!("{v}/cctv-layouts/{layout}/set-default"),
                [200, 403, 403, 401],
            ),
            row(
                "GET",
                format!("{v}/branch-event-settings"),
                [200, 200, 200, 401],
            ),
            with(
                "PUT",
                format!("{v}/branch-event-settings/{e0}"),
                |_| json!({"send_message": true}),
                [200, 200, 403, 401],
            ),
            with(
                "PUT",
                format!("{v}/branch-event-settings/{e1}"),
                |_| json!({"send_message": true}),
                [200, 403, 403, 401],
            ),
            row(
                "GET",
                format!("{v}/whatsapp-settings"),
                [200, 403, 403, 401],
            ),
            with(
                "POST",
                format!("{v}/whatsapp-settings"),
                |n| json!({"name": format!("W{n}"), "phone_numbers": ["081234567890"], "message_template": "Hi {branch_name}"}),
                [201, 403, 403, 401],
            ),
            row("GET", format!("{v}/audit-logs"), [200, 403, 403, 401]),
            with(
                "PATCH",
                format!("{v}/re-id-masters/R_OWN"),
                |_| json!({"person_name": "Known"}),
                [200, 200, 403, 401],
            ),
            with(
                "PATCH",
                format!("{v}/re-id-masters/R_OTHER"),
                |_| json!({"person_name": "Known"}),
                [200, 403, 403, 401],
            ),
        ];
        let counter = AtomicUsize::new(0);
        let tokens = [
            Some(p.admin.as_str()),
            Some(p.operator.as_str()),
            Some(p.viewer.as_str()),
            None,
        ];
        let names = ["admin", "operator", "viewer", "anonymous"];
        // Least privileged first, so a successful delete by an admin comes last.
        for r in &rows {
            for who in [3, 2, 1, 0] {
                let body = r
                    .body
                    .as_ref()
                    .map(|b| b(counter.fetch_add(1, Ordering::Relaxed)));
                let resp = call(&app, r.method, &r.path, tokens[who], body).await;
                assert_eq!(
                    resp.status, r.expect[who],
                    "{backend:?} {} {} as {}: {:?}",
                    r.method, r.path, names[who], resp.body
                );
                if resp.status >= 400 {
                    assert_eq!(resp.body["success"], false, "{:?}", resp.body);
                    let code = resp.body["error"]["code"].as_str().unwrap();
                    let want = if resp.status == 401 {
                        "UNAUTHORIZED"
                    } else {
                        "FORBIDDEN"
                    };
                    assert_eq!(code, want);
                }
            }
        }
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_can_raise_their_own_role_or_register_publicly() {
    let app = spawn_app(Backend::Sqlite).await;
    let p = people(&app).await;
    let me = format!("/api/v1/users/{}", p.operator_id);
    let raise = call(
        &app,
        "PUT",
        &me,
        Some(&p.operator),
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_eq!(raise.status, 403);
    let register = call(&app, "POST", "/api/register", None, Some(json!({"name": "x", "email": "x@y.z", "password": "password1", "password_confirmation": "password1", "role": "admin"}))).await;
    assert_eq!(register.status, 403);
    let who = call(&app, "GET", "/api/me", Some(&p.operator), None).await;
    assert_eq!(who.body["data"]["role"], "operator");
    // An unknown field cannot smuggle a role into a create either.
    let sneaky = call(&app, "POST", "/api/v1/users", Some(&p.admin), Some(json!({"name": "n", "email": "n@cctv.test", "password": "password12", "role": "viewer", "is_admin": true}))).await;
    assert_eq!(sneaky.status, 422);
    assert!(sneaky.body["error"]["details"]["is_admin"].is_array());
    app.stop().await;
}
