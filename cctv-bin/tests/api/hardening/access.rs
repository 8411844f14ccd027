//! Scope and access: throttles that hold under concurrency, positions of other branches,
//! and sessions that end when the password, role or status changes.

use serde_json::json;

use crate::helpers::*;
use crate::manage::{call, login, people};
use crate::web::Browser;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_concurrent_wrong_passwords_get_at_most_the_allowed_attempts_evaluated() {
    let app = spawn_app(Backend::Sqlite).await;
    let _ = people(&app).await;
    let attempts: Vec<_> = (0..40)
        .map(|_| {
            let addr = app.addr.clone();
            tokio::spawn(async move {
                send(
                    &addr,
                    "POST",
                    "/api/login",
                    &[
                        ("content-type", "application/json"),
                        ("accept", "application/json"),
                    ],
                    serde_json::to_vec(
                        &json!({"email": "viewer@cctv.test", "password": "wrong-guess-1"}),
                    )
                    .unwrap(),
                )
                .await
            })
        })
        .collect();
    let (mut refused, mut throttled) = (0, 0);
    for a in attempts {
        let r = a.await.unwrap();
        match r.status {
            401 => refused += 1,
            429 => {
                throttled += 1;
                let retry: u64 = r.headers["retry-after"].parse().unwrap();
                assert!(retry >= 1, "{retry}");
            }
            other => panic!("unexpected {other}: {:?}", r.body),
        }
    }
    assert_eq!(refused, 5, "exactly the allowed failures were evaluated");
    assert_eq!(throttled, 35);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_cannot_point_or_change_a_position_of_another_branch() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let p = people(&app).await;
        let (own, foreign) = (app.device(0).to_owned(), app.device(1).to_owned());
        let layout = call(
            &app,
            "POST",
            "/api/v1/cctv-layouts",
            Some(&p.admin),
            Some(
                json!({"layout_name": "Main", "layout_type": "4-window", "is_default": true,
                "positions": [
                    {"position_number": 1, "device_id": foreign},
                    {"position_number": 2, "device_id": own},
                    {"position_number": 3},
                    {"position_number": 4},
                ]}),
            ),
        )
        .await;
        assert_eq!(layout.status, 201, "{:?}", layout.body);
        let id = layout.body["data"]["id"].as_i64().unwrap();
        let shown = call(
            &app,
            "GET",
            &format!("/api/v1/cctv-layouts/{id}"),
            Some(&p.admin),
            None,
        )
        .await;
        assert_eq!(
            shown.body["data"]["positions"][0]["branch_id"],
            app.branch(1),
            "the branch is taken from the device"
        );
        let put = |n: i64, body: serde_json::Value| {
            let token = p.operator.clone();
            let app = &app;
            async move {
                call(
                    app,
                    "PUT",
                    &format!("/api/v1/cctv/layouts/{id}/positions/{n}"),
                    Some(&token),
                    Some(body),
                )
                .await
            }
        };
        // Another branch's device, without naming the branch.
        assert_eq!(
            put(3, json!({"device_id": foreign})).await.status,
            403,
            "{backend:?}"
        );
        // A position that shows another branch: neither overwritten nor cleared.
        assert_eq!(
            put(1, json!({"device_id": own})).await.status,
            403,
            "{backend:?}"
        );
        assert_eq!(
            put(1, json!({"is_enabled": false})).await.status,
            403,
            "{backend:?}"
        );
        // Its own branch: fine.
        let ok = put(3, json!({"device_id": own})).await;
        assert_eq!(ok.status, 200, "{backend:?}: {:?}", ok.body);
        assert_eq!(ok.body["data"]["branch_id"], app.branch(0));
        let after = call(
            &app,
            "GET",
            &format!("/api/v1/cctv-layouts/{id}"),
            Some(&p.admin),
            None,
        )
        .await;
        assert_eq!(
            after.body["data"]["positions"][0]["device_id"],
            foreign.as_str()
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_role_or_status_change_ends_the_users_tokens_and_sessions() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let p = people(&app).await;
        let me = |token: &str| {
            let token = token.to_owned();
            let app = &app;
            async move {
                call(app, "GET", "/api/v1/cctv-layouts", Some(&token), None)
                    .await
                    .status
            }
        };
        let user = format!("/api/v1/users/{}", p.operator_id);
        let mut browser = Browser::new(&app);
        browser.login("operator@cctv.test", "secret-pass-1").await;
        assert_eq!(browser.get("/dashboard").await.status, 200);
        assert_eq!(me(&p.operator).await, 200);

        let r = call(&app, "PUT", &user, Some(&p.admin),
            Some(json!({"password": "a-new-password-2", "password_confirmation": "a-new-password-2"}))).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(
            me(&p.operator).await,
            401,
            "{backend:?}: the old token is revoked"
        );
        assert_ne!(
            browser.get("/dashboard").await.status,
            200,
            "{backend:?}: the session too"
        );

        let token = login(&app, "operator@cctv.test", "a-new-password-2").await;
        let r = call(
            &app,
            "PUT",
            &user,
            Some(&p.admin),
            Some(json!({"role": "viewer"})),
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(me(&token).await, 401, "{backend:?}: a role change revokes");

        let token = login(&app, "operator@cctv.test", "a-new-password-2").await;
        // A change that is none of the three keeps the session.
        let r = call(
            &app,
            "PUT",
            &user,
            Some(&p.admin),
            Some(json!({"name": "Renamed"})),
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(me(&token).await, 200, "{backend:?}");
        let r = call(
            &app,
            "PUT",
            &user,
            Some(&p.admin),
            Some(json!({"status": "inactive"})),
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(me(&token).await, 401, "{backend:?}: deactivation revokes");
        app.stop().await;
    }
}
