//! The web pages over HTTP (no browser): sessions, CSRF, role-aware pages, forms that
//! keep input, escaping of user-supplied strings. The browser test is in `browser.rs`.

use serde_json::json;

use crate::helpers::*;
use crate::manage::{call, people};

/// A browser-like client: keeps the session cookie.
pub struct Browser<'a> {
    app: &'a TestApp,
    cookies: Vec<(String, String)>,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            cookies: Vec::new(),
        }
    }

    /// The `Cookie` header this browser sends.
    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn absorb(&mut self, r: &RawResp) {
        for (k, v) in r.cookies() {
            self.cookies.retain(|(n, _)| *n != k);
            if !v.is_empty() {
                self.cookies.push((k, v));
            }
        }
    }

    pub async fn get(&mut self, path: &str) -> RawResp {
        let cookie = self.cookie_header();
        let r = send_raw(&self.app.addr, "GET", path, &[("cookie", &cookie)], vec![]).await;
        self.absorb(&r);
        r
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> RawResp {
        let body: String = form
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let cookie = self.cookie_header();
        let r = send_raw(
            &self.app.addr,
            "POST",
            path,
            &[
                ("cookie", &cookie),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            body.into_bytes(),
        )
        .await;
        self.absorb(&r);
        r
    }

    /// Logs in through the login form (with its CSRF token).
    pub async fn login(&mut self, email: &str, password: &str) -> RawResp {
        let page = self.get("/login").await;
        let csrf = csrf_of(&page.body);
        self.post(
            "/login",
            &[("_csrf", &csrf), ("email", email), ("password", password)],
        )
        .await
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The CSRF token in a page's first form.
pub fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"_csrf\" value=\"").expect("a CSRF field") + 20;
    html[at..at + 64].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_need_a_session_and_the_login_sets_a_secure_cookie() {
    let app = spawn_app(Backend::Sqlite).await;
    let _ = people(&app).await;
    let mut b = Browser::new(&app);
    let anon = b.get("/dashboard").await;
    assert_eq!(anon.status, 303);
    assert_eq!(anon.header("location"), Some("/login?next=/dashboard"));
    let wrong = b.login("admin@cctv.test", "not-the-password").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("do not match our records"));
    assert!(
        wrong.body.contains("value=\"admin@cctv.test\""),
        "the e-mail is kept"
    );
    let ok = b.login("admin@cctv.test", "admin-password-1").await;
    assert_eq!(ok.status, 303);
    let set = ok
        .headers
        .iter()
        .find(|(k, v)| k == "set-cookie" && v.starts_with("cctv_session="))
        .unwrap()
        .1
        .clone();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    let dash = b.get("/dashboard").await;
    assert_eq!(dash.status, 200);
    assert!(dash.body.contains("Detections today"));
    assert!(
        dash.headers
            .iter()
            .any(|(k, v)| k == "content-security-policy" && v.contains("script-src 'self'"))
    );
    // Logging out needs the CSRF token, then the session is gone.
    assert_eq!(b.post("/logout", &[]).await.status, 403);
    let csrf = csrf_of(&dash.body);
    assert_eq!(b.post("/logout", &[("_csrf", &csrf)]).await.status, 303);
    assert_eq!(b.get("/dashboard").await.status, 303);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_without_the_csrf_token_are_refused_and_change_nothing() {
    let app = spawn_app(Backend::Sqlite).await;
    let p = people(&app).await;
    let mut b = Browser::new(&app);
    b.login("admin@cctv.test", "admin-password-1").await;
    let r = b
        .post(
            "/groups",
            &[
                ("province_code", "BLI"),
                ("province_name", "Bali"),
                ("group_name", "Bali"),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    let r = b
        .post(
            "/groups",
            &[
                ("_csrf", &"0".repeat(64)),
                ("province_code", "BLI"),
                ("province_name", "Bali"),
                ("group_name", "Bali"),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    let login_without = send_raw(
        &app.addr,
        "POST",
        "/login",
        &[("content-type", "application/x-www-form-urlencoded")],
        b"email=admin%40cctv.test&password=admin-password-1".to_vec(),
    )
    .await;
    assert_eq!(
        login_without.status, 403,
        "the login form has its own token"
    );
    let groups = call(
        &app,
        "GET",
        "/api/v1/company-groups?search=BLI",
        Some(&p.admin),
        None,
    )
    .await;
    assert_eq!(groups.body["pagination"]["total"], 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_form_comes_back_with_messages_next_to_fields_and_the_typed_values() {
    let app = spawn_app(Backend::Sqlite).await;
    let _ = people(&app).await;
    let mut b = Browser::new(&app);
    b.login("admin@cctv.test", "admin-password-1").await;
    let form = b.get("/branches/new").await;
    assert_eq!(form.status, 200);
    let csrf = csrf_of(&form.body);
    let r = b
        .post(
            "/branches",
            &[
                ("_csrf", &csrf),
                ("branch_code", "NEW 1"),
                ("branch_name", "Typed name"),
                ("city", ""),
                ("latitude", "95"),
            ],
        )
        .await;
    assert_eq!(r.status, 422);
    for field in ["branch_code", "city", "latitude", "group_id"] {
        assert!(
            r.body.contains(&format!("data-error-for=\"{field}\"")),
            "{field} message missing"
        );
    }
    assert!(
        r.body.contains("value=\"Typed name\""),
        "typed values are kept"
    );
    let ok = b
        .post(
            "/branches",
            &[
                ("_csrf", &csrf),
                ("group_id", &app.estate.branches[0].group_id.to_string()),
                ("branch_code", "NEW1"),
                ("branch_name", "Typed name"),
                ("city", "Bogor"),
            ],
        )
        .await;
    assert_eq!(ok.status, 303);
    let list = b.get("/branches").await;
    assert!(list.body.contains("NEW1"));
    assert!(list.body.contains("The branch was created."));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_and_operators_cannot_reach_admin_pages_and_see_no_admin_navigation() {
    let app = spawn_app(Backend::Sqlite).await;
    let _ = people(&app).await;
    for (email, password) in [
        ("viewer@cctv.test", "secret-pass-1"),
        ("operator@cctv.test", "secret-pass-1"),
    ] {
        let mut b = Browser::new(&app);
        assert_eq!(b.login(email, password).await.status, 303);
        let dash = b.get("/dashboard").await;
        assert!(
            !dash.body.contains("href=\"/users\""),
            "{email} sees admin navigation"
        );
        for path in [
            "/users",
            "/api-credentials",
            "/whatsapp-settings",
            "/audit-logs",
            "/users/new",
        ] {
            assert_eq!(b.get(path).await.status, 403, "{email} {path}");
        }
        assert_eq!(b.get("/persons").await.status, 200);
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_supplied_strings_are_escaped_on_every_page() {
    let app = spawn_app(Backend::Sqlite).await;
    let p = people(&app).await;
    let evil = "<script>alert(1)</script>";
    let r = call(
        &app,
        "PUT",
        &format!("/api/v1/company-branches/{}", app.branch(0)),
        Some(&p.admin),
        Some(json!({"branch_name": evil})),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = call(
        &app,
        "PUT",
        &format!("/api/v1/device-masters/{}", 1),
        Some(&p.admin),
        Some(json!({"device_name": evil})),
    )
    .await;
    assert!(r.status == 200 || r.status == 404);
    call(&app, "POST", "/api/v1/whatsapp-settings", Some(&p.admin), Some(json!({"name": evil, "phone_numbers": ["0812345678"], "message_template": "{branch_name} <b>x</b>"}))).await;
    let re_id = "<img src=x onerror=alert(2)>";
    let posted = app
        .post_json(&json!({"re_id": re_id, "branch_id": app.branch(0), "device_id": app.device(0)}))
        .await;
    app.wait_completed(posted.body["data"]["job_id"].as_str().unwrap())
        .await;
    call(
        &app,
        "PATCH",
        &format!("/api/v1/re-id-masters/{}", enc(re_id)),
        Some(&p.admin),
        Some(json!({"person_name": evil})),
    )
    .await;

    let mut b = Browser::new(&app);
    b.login("admin@cctv.test", "admin-password-1").await;
    let today = app.core.today();
    for path in [
        "/dashboard".to_owned(),
        "/branches".to_owned(),
        "/devices".to_owned(),
        "/whatsapp-settings".to_owned(),
        "/persons".to_owned(),
        format!("/persons/{}?date={today}", enc(re_id)),
        "/audit-logs".to_owned(),
    ] {
        let page = b.get(&path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(
            !page.body.contains("<script>alert"),
            "{path} has a raw script tag"
        );
        assert!(
            !page.body.contains("<img src=x"),
            "{path} has a raw img tag"
        );
    }
    let persons = b.get("/persons").await;
    assert!(
        persons.body.contains("&lt;img src=x onerror=alert(2)&gt;"),
        "the re_id is shown, escaped"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_numbers_equal_the_api_numbers() {
    let app = spawn_app(Backend::Sqlite).await;
    let _ = people(&app).await;
    for i in 0..7 {
        let r = app.post_json(&json!({"re_id": format!("P{}", i % 3), "branch_id": app.branch(i % 2), "device_id": app.device(i % 2)})).await;
        app.wait_completed(r.body["data"]["job_id"].as_str().unwrap())
            .await;
    }
    let api = app.get("/api/v1/detection/summary").await;
    let total = api.body["data"]["summary"]["total_detections"]
        .as_i64()
        .unwrap();
    let unique = api.body["data"]["summary"]["unique_persons"]
        .as_i64()
        .unwrap();
    assert_eq!((total, unique), (7, 3));
    let mut b = Browser::new(&app);
    b.login("admin@cctv.test", "admin-password-1").await;
    let dash = b.get("/dashboard").await;
    assert!(
        dash.body
            .contains(&format!("data-live=\"detections-today\">{total}<")),
        "dashboard total"
    );
    let unique_card = dash.body.split("Unique persons today").nth(1).unwrap();
    assert!(
        unique_card.contains(&format!(">{unique}<")),
        "dashboard unique persons"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_view_plays_what_a_browser_can_and_saves_a_position_picked_on_the_page() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let p = people(&app).await;
        let positions: Vec<_> = (1..=4).map(|i| json!({"position_number": i})).collect();
        let layout = call(&app, "POST", "/api/v1/cctv-layouts", Some(&p.admin),
            Some(json!({"layout_name": "Lobby", "layout_type": "4-window", "is_default": true, "positions": positions}))).await;
        let layout_id = layout.body["data"]["id"].as_i64().unwrap();
        for (i, url) in [
            (0, "http://10.9.9.9/video.mjpg"),
            (1, "rtsp://10.9.9.8:554/live"),
        ] {
            let r = call(&app, "POST", "/api/v1/cctv-streams", Some(&p.admin), Some(json!({
                "branch_id": app.branch(i), "device_id": app.device(i), "stream_name": format!("S{i}"),
                "url": url, "username": "cam", "password": "pw"}))).await;
            assert_eq!(r.status, 201, "{:?}", r.body);
        }
        // The original's JSON call for one position.
        let put = call(&app, "PUT", &format!("/api/v1/cctv/layouts/{layout_id}/positions/2"), Some(&p.operator),
            Some(json!({"branch_id": app.branch(0), "device_id": app.device(0), "quality": "medium"}))).await;
        assert_eq!(put.status, 200, "{:?}", put.body);
        assert_eq!(put.body["data"]["quality"], "medium");
        let other = call(
            &app,
            "PUT",
            &format!("/api/v1/cctv/layouts/{layout_id}/positions/3"),
            Some(&p.operator),
            Some(json!({"branch_id": app.branch(1), "device_id": app.device(1)})),
        )
        .await;
        assert_eq!(
            other.status, 403,
            "an operator cannot show another branch's camera"
        );
        let bad = call(
            &app,
            "PUT",
            &format!("/api/v1/cctv/layouts/{layout_id}/positions/3"),
            Some(&p.admin),
            Some(json!({"branch_id": app.branch(0), "device_id": app.device(1)})),
        )
        .await;
        assert_eq!(bad.status, 422);
        assert!(
            bad.body["error"]["details"]["device_id"].is_array(),
            "{:?}",
            bad.body
        );
        let missing = call(
            &app,
            "PUT",
            &format!("/api/v1/cctv/layouts/{layout_id}/positions/9"),
            Some(&p.admin),
            Some(json!({"branch_id": app.branch(0)})),
        )
        .await;
        assert_eq!(missing.status, 404);

        // The page: position 3 picked by the admin through the form.
        let mut b = Browser::new(&app);
        b.login("admin@cctv.test", "admin-password-1").await;
        let live = b.get("/live").await;
        assert_eq!(live.status, 200);
        let csrf = csrf_of(&live.body);
        let saved = b
            .post(
                &format!("/live/{layout_id}/positions/3"),
                &[
                    ("_csrf", &csrf),
                    ("branch_id", &app.branch(1).to_string()),
                    ("device_id", app.device(1)),
                ],
            )
            .await;
        assert_eq!(saved.status, 303);
        let live = b.get(&format!("/live?layout_id={layout_id}")).await;
        assert!(live.body.contains("Position 3 saved."));
        // minijinja escapes '/' in attributes as &#x2f;, which the browser decodes.
        let html = live.body.replace("&#x2f;", "/");
        assert!(
            html.contains(&format!(
                "<img src=\"/api/v1/cctv/streams/{}/proxy\"",
                app.device(0)
            )),
            "MJPEG plays as an image through the proxy"
        );
        assert!(
            !html.contains("cam:pw@"),
            "no camera credentials in the page"
        );
        assert!(
            live.body
                .contains("RTSP stream: This stream needs a gateway"),
            "RTSP says it needs a gateway"
        );
        assert!(live.body.contains("No device chosen."));
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_pages_show_thumbnails_and_snapshots_through_signed_urls_for_the_session() {
    let app = spawn_app(Backend::Sqlite).await;
    let _ = people(&app).await;
    let event =
        crate::files::post_image(&app, "REID_EVENT_PAGE", &crate::files::jpeg(640, 480)).await;
    crate::files::settled_event(&app, event).await;
    let mut b = Browser::new(&app);
    b.login("admin@cctv.test", "admin-password-1").await;
    let list = b.get("/events").await;
    assert_eq!(list.status, 200);
    let html = list.body.replace("&#x2f;", "/").replace("&amp;", "&");
    let at = html
        .find("<img class=\"thumb\" src=\"")
        .expect("a thumbnail")
        + 24;
    let url = &html[at..at + html[at..].find('"').unwrap()];
    assert!(
        url.starts_with("/storage/file?path=") && url.contains("&sig="),
        "{url}"
    );
    let image = b.get(url).await;
    assert_eq!(
        image.status, 200,
        "the session may load the signed thumbnail"
    );
    assert_eq!(image.header("content-type"), Some("image/jpeg"));
    let anonymous = send_raw(&app.addr, "GET", url, &[], vec![]).await;
    assert_eq!(anonymous.status, 401, "a signed URL alone is not enough");
    let page = b.get(&format!("/events/{event}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<img class=\"snapshot\""));
    assert!(
        page.body
            .contains("No notification was attempted for this event.")
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_pages_show_queued_then_fresh_reports_and_export_with_the_session() {
    let app = spawn_app(Backend::Sqlite).await;
    let _ = people(&app).await;
    for i in 0..5 {
        let r = app.post_json(&json!({"re_id": format!("R{}", i % 2), "branch_id": app.branch(0), "device_id": app.device(0)})).await;
        app.wait_completed(r.body["data"]["job_id"].as_str().unwrap())
            .await;
    }
    let mut b = Browser::new(&app);
    b.login("admin@cctv.test", "admin-password-1").await;
    let today = app.core.today();
    let path = format!(
        "/reports?kind=daily&date={today}&branch_id={}",
        app.branch(0)
    );
    let first = b.get(&path).await;
    assert_eq!(first.status, 200);
    let mut fresh = first;
    for _ in 0..100 {
        if fresh.body.contains("Unique persons") && !fresh.body.contains("being regenerated") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        fresh = b.get(&path).await;
    }
    assert!(
        fresh.body.contains("Unique persons"),
        "the queued report was generated"
    );
    // The value of the "Detections" stat card, and nothing else on the page.
    let card = fresh.body.split("Detections</div>").nth(1).unwrap();
    let value = card.split("stat-value").nth(1).unwrap();
    let value = &value[value.find('>').unwrap() + 1..value.find('<').unwrap()];
    assert_eq!(value.trim(), "5", "5 detections");
    let mut dash = b.get("/reports").await;
    assert_eq!(dash.status, 200);
    for _ in 0..100 {
        if dash.body.contains("id=\"report-top\"") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        dash = b.get("/reports").await;
    }
    // The branch table names branches, not ids.
    let top = dash
        .body
        .split("id=\"report-top\"")
        .nth(1)
        .expect("the branch table");
    let top = &top[..top.find("</table>").unwrap()];
    let name = app.core.estate().branches[&app.branch(0)]
        .branch_name
        .clone();
    assert!(top.contains(&format!("<td>{name}</td>")), "{top}");
    assert!(
        !top.contains(&format!("<td>{}</td>", app.branch(0))),
        "{top}"
    );
    let html = fresh.body.replace("&#x2f;", "/").replace("&amp;", "&");
    let at = html
        .find("href=\"/api/v1/reports/daily/export?")
        .expect("an export link")
        + 6;
    let link = &html[at..at + html[at..].find('"').unwrap()];
    let csv = b.get(link).await;
    assert_eq!(csv.status, 200, "{link}: {}", csv.body);
    assert!(
        csv.header("content-type")
            .unwrap_or_default()
            .starts_with("text/csv")
    );
    let queues = b.get("/admin/queues").await;
    assert_eq!(queues.status, 200);
    assert!(queues.body.contains("id=\"queue-health\""));
    let mut viewer = Browser::new(&app);
    viewer.login("viewer@cctv.test", "secret-pass-1").await;
    assert_eq!(viewer.get("/admin/queues").await.status, 403);
    assert_eq!(viewer.get("/reports").await.status, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_see_the_schedule_with_next_runs_and_others_are_refused() {
    let app = spawn_app(Backend::Sqlite).await;
    let _ = people(&app).await;
    let mut b = Browser::new(&app);
    b.login("admin@cctv.test", "admin-password-1").await;
    let page = b.get("/admin/schedule").await;
    assert_eq!(page.status, 200);
    for task in ["report_refresh", "daily_reports", "monthly_reports"] {
        assert!(
            page.body.contains(&format!("<td>{task}</td>")),
            "{task} listed"
        );
    }
    let mut op = Browser::new(&app);
    op.login("operator@cctv.test", "secret-pass-1").await;
    assert_eq!(op.get("/admin/schedule").await.status, 403);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_list_links_exports_carrying_its_filters_and_the_session_downloads_them() {
    let app = spawn_app(Backend::Sqlite).await;
    let _ = people(&app).await;
    for (n, re_id) in [(0, "alice"), (1, "bob"), (0, "carol")] {
        let r = app
            .post_json(
                &json!({"re_id": re_id, "branch_id": app.branch(n), "device_id": app.device(n)}),
            )
            .await;
        app.wait_completed(r.body["data"]["job_id"].as_str().unwrap())
            .await;
    }
    let mut b = Browser::new(&app);
    b.login("operator@cctv.test", "secret-pass-1").await;
    let page = b.get("/events?search=a&page=2").await;
    assert_eq!(page.status, 200);
    // Attribute values as a browser reads them (minijinja escapes `/` and `&`).
    let html = page.body.replace("&#x2f;", "/").replace("&amp;", "&");
    let at = html
        .find("/api/v1/exports/events?")
        .unwrap_or_else(|| panic!("an export link in {html}"));
    let href = html[at..].split('"').next().unwrap();
    assert_eq!(
        href, "/api/v1/exports/events?search=a&format=csv",
        "filters kept, page dropped"
    );
    let csv = b.get(href).await;
    assert_eq!(csv.status, 200);
    let lines: Vec<&str> = csv.body.split("\r\n").filter(|l| !l.is_empty()).collect();
    // The operator's branch only (bob was seen in branch 1); "a" matches alice and carol.
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.contains("alice") || l.contains("carol"))
    );
    let persons = b.get("/persons?status=active").await;
    assert!(
        persons
            .body
            .replace("&#x2f;", "/")
            .contains("/api/v1/exports/persons?status=active&amp;format=xlsx"),
        "the person list links its exports"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_form_starts_active_and_pages_have_an_icon() {
    let app = spawn_app(Backend::Sqlite).await;
    let _ = people(&app).await;
    let icon = send_raw(&app.addr, "GET", "/assets/favicon.svg", &[], vec![]).await;
    assert_eq!(
        (icon.status, icon.header("content-type")),
        (200, Some("image/svg+xml"))
    );
    assert!(icon.body.starts_with("<svg"), "{}", icon.body);
    let login = send_raw(&app.addr, "GET", "/login", &[], vec![]).await;
    assert!(
        login
            .body
            .contains(r#"<link rel="icon" href="/assets/favicon.svg""#)
    );
    let mut b = Browser::new(&app);
    b.login("admin@cctv.test", "admin-password-1").await;
    for page in ["/devices/new", "/branches/new", "/groups/new"] {
        let form = b.get(page).await;
        assert_eq!(form.status, 200, "{page}");
        assert!(
            form.body
                .contains(r#"<option value="active" selected>active</option>"#),
            "{page}: the status select does not start at active"
        );
        assert!(
            form.body
                .contains(r#"<link rel="icon" href="/assets/favicon.svg""#),
            "{page}"
        );
    }
    app.stop().await;
}
