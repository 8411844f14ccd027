//! The management API: people, roles, validation, secrets and the rules of the estate.

mod postman;
mod roles;
mod rules;
mod secrets;
mod validation;
mod webhooks;

use cctv_admin::access::Role;
use cctv_admin::manage::{ManageSettings, Manager, NewUser};
use serde_json::{Value, json};

use crate::helpers::*;

/// Logged-in people of one test app.
pub struct People {
    pub admin: String,
    /// Operator of branch 0 only.
    pub operator: String,
    pub viewer: String,
    pub admin_id: i64,
    pub operator_id: i64,
    pub viewer_id: i64,
}

pub async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Resp {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers: Vec<(&str, &str)> = vec![("accept", "application/json")];
    if let Some(b) = &bearer {
        headers.push(("authorization", b));
    }
    let bytes = match &body {
        Some(b) => {
            headers.push(("content-type", "application/json"));
            serde_json::to_vec(b).unwrap()
        }
        None => Vec::new(),
    };
    send(&app.addr, method, path, &headers, bytes).await
}

pub async fn login(app: &TestApp, email: &str, password: &str) -> String {
    let r = call(
        app,
        "POST",
        "/api/login",
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await;
    assert_eq!(r.status, 200, "login {email}: {:?}", r.body);
    r.body["data"]["token"].as_str().unwrap().to_owned()
}

/// An admin (created like `cctv user create`), an operator of branch 0 and a viewer.
pub async fn people(app: &TestApp) -> People {
    let manager = Manager::new(app.core.clone(), ManageSettings::default());
    let created = manager
        .create_user(NewUser {
            name: "Admin".into(),
            email: "admin@cctv.test".into(),
            password: "admin-password-1".into(),
            role: Role::Admin,
        })
        .await
        .unwrap();
    let admin = login(app, "admin@cctv.test", "admin-password-1").await;
    let mut ids = Vec::new();
    for (email, role, branches) in [
        ("operator@cctv.test", "operator", json!([app.branch(0)])),
        ("viewer@cctv.test", "viewer", json!([])),
    ] {
        let r = call(
            app,
            "POST",
            "/api/v1/users",
            Some(&admin),
            Some(json!({"name": role, "email": email, "password": "secret-pass-1", "role": role, "branch_ids": branches})),
        )
        .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        ids.push(r.body["data"]["id"].as_i64().unwrap());
    }
    People {
        operator: login(app, "operator@cctv.test", "secret-pass-1").await,
        viewer: login(app, "viewer@cctv.test", "secret-pass-1").await,
        admin,
        admin_id: created["id"].as_i64().unwrap(),
        operator_id: ids[0],
        viewer_id: ids[1],
    }
}
