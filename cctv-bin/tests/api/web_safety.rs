//! Browser-facing safety of the web application: where the login sends the browser
//! (`next`), and the headers of pages, API answers and assets.

use crate::helpers::*;
use crate::manage::people;
use crate::web::{Browser, csrf_of};

/// Logs in through the form of `/login?next=<query_next>`, posting `posted_next` as the
/// browser would (the hidden field's value); the `Location` the login answers with.
async fn login_next(app: &TestApp, query_next: &str, posted_next: &str) -> (String, String) {
    let mut b = Browser::new(app);
    let form = b.get(&format!("/login?next={query_next}")).await;
    assert_eq!(form.status, 200);
    let csrf = csrf_of(&form.body);
    let r = b
        .post(
            "/login",
            &[
                ("_csrf", &csrf),
                ("email", "viewer@cctv.test"),
                ("password", "secret-pass-1"),
                ("next", posted_next),
            ],
        )
        .await;
    assert_eq!(r.status, 303);
    (
        r.header("location").unwrap_or_default().to_owned(),
        form.body,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_follows_next_only_to_a_path_of_this_site() {
    let app = spawn_app(Backend::Sqlite).await;
    let _ = people(&app).await;
    let (location, _) = login_next(
        &app,
        "%2Fpersons%3Fstatus%3Dactive",
        "/persons?status=active",
    )
    .await;
    assert_eq!(location, "/persons?status=active");
    // A tab is dropped by browsers: `/\t/evil.example` is `//evil.example`, another site.
    let (location, form) = login_next(&app, "%2F%09%2Fevil.example", "/\t/evil.example").await;
    assert_eq!(location, "/dashboard");
    assert!(
        !next_field_has(&form, "evil.example"),
        "the form does not carry it on"
    );
    for posted in [
        "//evil.example",
        "/\\evil.example",
        "/%2F/evil.example",
        "/%5Cevil.example",
        "/%09/evil.example",
        "/%252F%252Fevil.example",
        "https://evil.example",
    ] {
        let (location, _) = login_next(&app, "", posted).await;
        assert_eq!(location, "/dashboard", "{posted:?}");
    }
    app.stop().await;
}

/// Whether the login form's hidden `next` field holds `needle`.
fn next_field_has(html: &str, needle: &str) -> bool {
    html.split("name=\"next\"")
        .nth(1)
        .and_then(|rest| rest.split('>').next())
        .is_some_and(|tag| tag.contains(needle))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_not_stored_or_framed_and_nothing_is_sniffed() {
    let app = spawn_app(Backend::Sqlite).await;
    let _ = people(&app).await;
    let mut b = Browser::new(&app);
    let login = b.get("/login").await;
    b.login("admin@cctv.test", "admin-password-1").await;
    let dashboard = b.get("/dashboard").await;
    let refused = b.get("/audit-logs/new").await;
    assert_eq!(refused.status, 403);
    for (what, page) in [
        ("login", &login),
        ("dashboard", &dashboard),
        ("403 page", &refused),
    ] {
        assert_eq!(page.header("cache-control"), Some("no-store"), "{what}");
        assert_eq!(
            page.header("referrer-policy"),
            Some("same-origin"),
            "{what}"
        );
        assert_eq!(
            page.header("x-content-type-options"),
            Some("nosniff"),
            "{what}"
        );
        let csp = page.header("content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
            "{what}: {csp}"
        );
    }
    let api = send_raw(&app.addr, "GET", "/api/v1/detections", &app.auth(), vec![]).await;
    let unauthorized = send_raw(&app.addr, "GET", "/api/v1/detections", &[], vec![]).await;
    let css = send_raw(&app.addr, "GET", "/assets/app.css", &[], vec![]).await;
    let js = send_raw(&app.addr, "GET", "/assets/app.js", &[], vec![]).await;
    let health = send_raw(&app.addr, "GET", "/health", &[], vec![]).await;
    for (what, r, status) in [
        ("API answer", &api, 200),
        ("API error", &unauthorized, 401),
        ("stylesheet", &css, 200),
        ("script", &js, 200),
        ("health", &health, 200),
    ] {
        assert_eq!(r.status, status, "{what}");
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{what}"
        );
    }
    app.stop().await;
}
