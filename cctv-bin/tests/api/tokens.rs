//! Personal access tokens: issued by an admin (API, page, command line) with scopes and an
//! expiry, shown once, stored hashed, accepted only on the reads their scopes name,
//! listed with their last use, revocable.

use std::process::Stdio;

use cctv_admin::manage::tables::USER_TOKENS;
use cctv_core::records::{Record, WriteOp, by_id};
use serde_json::{Value, json};

use crate::crash::{cctv, create_user, free_addr, start};
use crate::helpers::*;
use crate::manage::call;
use crate::report_support::{signed_in, token};
use crate::web::{Browser, csrf_of};

async fn issue(app: &TestApp, admin: &str, body: Value) -> Resp {
    call(app, "POST", "/api/v1/admin/tokens", Some(admin), Some(body)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_reads_only_what_its_scopes_name_until_revoked() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let admin = token(&app, "admin", &[]).await;
        let b0 = app.branch(0);
        let (operator_email, operator) = signed_in(&app, "operator", &[b0]).await;

        // Operators do not issue tokens; bad requests name every field.
        let r = issue(
            &app,
            &operator,
            json!({"user_email": operator_email, "name": "x", "scopes": ["reports:read"]}),
        )
        .await;
        assert_eq!(r.status, 403, "{:?}", r.body);
        let r = issue(
            &app,
            &admin,
            json!({"user_id": 999999, "name": "", "scopes": ["root"], "expires_in_days": 0}),
        )
        .await;
        assert_eq!(r.status, 422, "{:?}", r.body);
        for field in ["name", "scopes", "expires_in_days"] {
            assert!(
                r.body["error"]["details"][field].is_array(),
                "{field}: {:?}",
                r.body
            );
        }
        let r = issue(
            &app,
            &admin,
            json!({"user_id": 999999, "name": "bi", "scopes": ["reports:read"]}),
        )
        .await;
        assert_eq!(r.status, 422, "an unknown person: {:?}", r.body);

        // Issued for the operator: reports (their branches), nothing else.
        let r = issue(
            &app,
            &admin,
            json!({"user_email": operator_email, "name": "power-bi",
            "scopes": ["reports:read"], "expires": "90d"}),
        )
        .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let pat = r.body["data"]["token"].as_str().unwrap().to_owned();
        let id = r.body["data"]["id"].as_i64().unwrap();
        assert_eq!(r.body["data"]["scopes"], json!(["reports:read"]));
        let row = app
            .core
            .storage()
            .find_record(&USER_TOKENS, &by_id(id))
            .await
            .unwrap()
            .unwrap();
        let stored = row.to_owned();
        let secret = pat.split('|').nth(1).unwrap();
        assert!(
            !Value::Object(stored).to_string().contains(secret),
            "only a hash is kept"
        );

        let get = |path: &'static str, t: String| {
            let app = &app;
            async move { call(app, "GET", path, Some(&t), None).await }
        };
        let r = call(
            &app,
            "GET",
            &format!("/api/v1/reports/dashboard?branch_id={b0}"),
            Some(&pat),
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(
            get("/api/v1/analytics/visits", pat.clone()).await.status,
            200
        );
        let r = get("/api/v1/exports/persons", pat.clone()).await;
        assert_eq!(r.status, 403, "{:?}", r.body);
        assert!(r.body["message"].as_str().unwrap().contains("exports:read"));
        for path in ["/api/v1/company-groups", "/api/me", "/api/v1/admin/tokens"] {
            assert_eq!(get(path, pat.clone()).await.status, 403, "{path}");
        }
        let r = call(
            &app,
            "POST",
            "/api/v1/company-groups",
            Some(&pat),
            Some(json!({"province_code": "X1", "province_name": "X", "group_name": "X"})),
        )
        .await;
        assert_eq!(r.status, 403, "a token changes nothing");
        let r = call(&app, "POST", "/api/logout", Some(&pat), Some(json!({}))).await;
        assert_eq!(r.status, 403);

        // Not a login: no web session, no live events, no cookie-read of anything.
        let cookie = format!("cctv_session={pat}");
        let page = send_raw(
            &app.addr,
            "GET",
            "/dashboard",
            &[("cookie", &cookie)],
            vec![],
        )
        .await;
        assert_eq!(page.status, 303, "a token is no session: to the login page");
        let r = send(
            &app.addr,
            "GET",
            "/api/v1/exports/detections",
            &[("cookie", &cookie)],
            vec![],
        )
        .await;
        assert_eq!(r.status, 401, "{:?}", r.body);
        let bearer = format!("Bearer {pat}");
        let ws = send_raw(
            &app.addr,
            "GET",
            "/ws",
            &[("authorization", &bearer)],
            vec![],
        )
        .await;
        assert_eq!(ws.status, 401, "no live events for a token");
        let login_bearer = format!("Bearer {operator}");
        let ws = send_raw(
            &app.addr,
            "GET",
            "/ws",
            &[("authorization", &login_bearer)],
            vec![],
        )
        .await;
        assert_ne!(ws.status, 401, "a login reaches the upgrade");

        // Metrics cover every branch: metrics:read is for an admin's token.
        let r = issue(
            &app,
            &admin,
            json!({"user_email": operator_email, "name": "prometheus",
            "scopes": ["metrics:read"]}),
        )
        .await;
        assert_eq!(r.status, 422, "{:?}", r.body);
        let me = get("/api/me", admin.clone()).await;
        let admin_id = me.body["data"]["id"].as_i64().unwrap();
        let r = issue(
            &app,
            &admin,
            json!({"user_id": admin_id, "name": "prometheus",
            "scopes": ["metrics:read"], "expires_in_days": 30}),
        )
        .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let scraper = r.body["data"]["token"].as_str().unwrap().to_owned();
        for (bearer, status) in [
            (scraper.as_str(), 200),
            (pat.as_str(), 403),
            (admin.as_str(), 403),
        ] {
            let auth = format!("Bearer {bearer}");
            let m = send(
                &app.addr,
                "GET",
                "/metrics",
                &[("x-forwarded-for", "203.0.113.9"), ("authorization", &auth)],
                vec![],
            )
            .await;
            assert_eq!(m.status, status, "{bearer}");
        }

        // The list: both, with last use, never a secret.
        let list = get("/api/v1/admin/tokens", admin.clone()).await;
        assert_eq!(list.status, 200);
        let tokens = list.body["data"].as_array().unwrap();
        assert_eq!(tokens.len(), 2, "login tokens are not listed");
        let listed = tokens.iter().find(|t| t["id"] == id).unwrap();
        assert_eq!(listed["user_email"], json!(operator_email));
        let scraper_row = tokens.iter().find(|t| t["name"] == "prometheus").unwrap();
        assert_eq!(scraper_row["user_id"], admin_id);
        assert!(listed["last_used_at"].is_string(), "{listed:?}");
        assert!(!list.body.to_string().contains(secret));
        assert!(!list.body.to_string().contains("token_hash"));

        // Expired: refused.
        let mut past = Record::new();
        past.insert("expires_at".into(), json!("2026-01-01T00:00:00Z"));
        let scraper_id = scraper.split('|').next().unwrap().parse::<i64>().unwrap();
        app.core
            .storage()
            .apply(&[WriteOp::Update {
                table: &USER_TOKENS,
                changes: past,
                filters: by_id(scraper_id),
            }])
            .await
            .unwrap();
        assert_eq!(
            get("/api/v1/analytics/visits", scraper.clone())
                .await
                .status,
            401
        );

        // Revoked: refused; revoking twice, or a login token, is not found.
        let r = call(
            &app,
            "DELETE",
            &format!("/api/v1/admin/tokens/{id}"),
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(
            get("/api/v1/analytics/visits", pat.clone()).await.status,
            401
        );
        let r = call(
            &app,
            "DELETE",
            &format!("/api/v1/admin/tokens/{id}"),
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(r.status, 404);
        let login_id = admin.split('|').next().unwrap();
        let r = call(
            &app,
            "DELETE",
            &format!("/api/v1/admin/tokens/{login_id}"),
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(r.status, 404);

        // The audit log has both changes, without the hash.
        let audit = get("/api/v1/audit-logs?per_page=50", admin.clone()).await;
        let text = audit.body.to_string();
        assert!(text.contains("user_tokens"), "{text}");
        assert!(!text.contains(secret));
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_issues_lists_and_revokes_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let listen = free_addr();
    create_user(
        cctv(dir.path(), &listen),
        "cli-admin@cctv.test",
        "Admin",
        "a-long-password-1",
    );
    let out = cctv(dir.path(), &listen)
        .args([
            "token",
            "create",
            "--user",
            "cli-admin@cctv.test",
            "--scope",
            "reports:read",
            "--scope",
            "exports:read",
            "--expires",
            "30d",
            "--name",
            "grafana",
            "--json",
        ])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let issued: Value = serde_json::from_slice(&out.stdout).unwrap();
    let pat = issued["token"].as_str().unwrap().to_owned();
    assert_eq!(issued["scopes"], json!(["reports:read", "exports:read"]));
    let bad = cctv(dir.path(), &listen)
        .args([
            "token",
            "create",
            "--user",
            "cli-admin@cctv.test",
            "--scope",
            "everything",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("scope"));
    let list = cctv(dir.path(), &listen)
        .args(["token", "list"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        listed.contains("grafana") && !listed.contains(pat.split('|').nth(1).unwrap()),
        "{listed}"
    );

    let mut server = start(dir.path(), &listen).await;
    let bearer = format!("Bearer {pat}");
    let r = send(
        &listen,
        "GET",
        "/api/v1/reports/dashboard",
        &[("authorization", &bearer)],
        vec![],
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let id = issued["id"].to_string();
    let revoked = cctv(dir.path(), &listen)
        .args(["token", "revoke", &id])
        .output()
        .unwrap();
    assert!(revoked.status.success());
    let r = send(
        &listen,
        "GET",
        "/api/v1/reports/dashboard",
        &[("authorization", &bearer)],
        vec![],
    )
    .await;
    assert_eq!(r.status, 401);
    let _ = server.kill();
    let _ = server.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tokens_page_issues_a_token_once_and_revokes_it() {
    let app = spawn_app(Backend::Sqlite).await;
    let _ = crate::manage::people(&app).await;
    let viewer = "viewer@cctv.test";
    let mut b = Browser::new(&app);
    b.login(viewer, "secret-pass-1").await;
    assert_eq!(b.get("/admin/tokens").await.status, 403, "admins only");
    let mut b = Browser::new(&app);
    b.login("admin@cctv.test", "admin-password-1").await;
    let page = b.get("/admin/tokens").await;
    assert_eq!(page.status, 200);
    let csrf = csrf_of(&page.body);
    let made = b
        .post(
            "/admin/tokens",
            &[
                ("_csrf", &csrf),
                ("user_email", viewer),
                ("name", "excel"),
                ("scope_reports_read", "1"),
                ("expires", "30d"),
            ],
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.body);
    let at = made.body.find("<code id=\"token\">").unwrap() + 17;
    let shown = &made.body[at..at + made.body[at..].find('<').unwrap()];
    assert!(shown.contains('|'));
    let bearer = format!("Bearer {shown}");
    let r = send(
        &app.addr,
        "GET",
        "/api/v1/analytics/heatmap",
        &[("authorization", &bearer)],
        vec![],
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // Shown once: the list afterwards has the name, not the token.
    let again = b.get("/admin/tokens").await;
    assert!(again.body.contains("excel") && !again.body.contains(shown));
    let none = b
        .post(
            "/admin/tokens",
            &[("_csrf", &csrf), ("user_email", viewer), ("name", "x")],
        )
        .await;
    assert_eq!(none.status, 422, "a token needs a scope");
    let id = shown.split('|').next().unwrap();
    let gone = b
        .post(&format!("/admin/tokens/{id}/revoke"), &[("_csrf", &csrf)])
        .await;
    assert_eq!(gone.status, 303);
    let r = send(
        &app.addr,
        "GET",
        "/api/v1/analytics/heatmap",
        &[("authorization", &bearer)],
        vec![],
    )
    .await;
    assert_eq!(r.status, 401);
    app.stop().await;
}
