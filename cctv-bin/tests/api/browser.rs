//! The web application in a real browser (headless Chromium driven over WebDriver):
//! log in, create a branch and a device through the forms, post a detection through the
//! device API and watch the dashboard update live without a reload, open the person page,
//! and check that a viewer cannot reach admin pages. Screenshots of each main page go to
//! `target/browser-artifacts/`.
//!
//! `.ci/run` installs Debian's `chromium` and `chromium-driver`; on a machine without
//! `chromedriver` the test says so and returns.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::crash::free_addr;
use crate::helpers::*;
use crate::manage::people;

pub(crate) struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn chromedriver() -> Option<&'static str> {
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

pub(crate) async fn browser() -> Option<(Driver, Client)> {
    let Some(path) = chromedriver() else {
        eprintln!("chromedriver is not installed: browser test skipped (.ci/run installs it)");
        return None;
    };
    let addr = free_addr();
    let port = addr.rsplit(':').next().unwrap().to_owned();
    let child = Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver(child);
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1366,900"]}),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let mut last = None;
    for _ in 0..100 {
        match ClientBuilder::new(connector.clone())
            .capabilities(caps.clone())
            .connect(&format!("http://{addr}"))
            .await
        {
            Ok(c) => return Some((driver, c)),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not accept a session: {last:?}");
}

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/browser-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(crate) async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(artifacts().join(format!("{name}.png")), png).unwrap();
}

async fn fill(c: &Client, name: &str, value: &str) {
    let el = c
        .find(Locator::Css(&format!("[name=\"{name}\"]")))
        .await
        .unwrap();
    el.clear().await.unwrap();
    el.send_keys(value).await.unwrap();
}

async fn choose(c: &Client, name: &str, value: &str) {
    c.find(Locator::Css(&format!("select[name=\"{name}\"]")))
        .await
        .unwrap()
        .select_by_value(value)
        .await
        .unwrap();
}

async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Polls `check` for up to 10 s.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn admin_token(app: &TestApp) -> String {
    crate::manage::login(app, "admin@cctv.test", "admin-password-1").await
}

pub(crate) async fn login(c: &Client, base: &str, email: &str, password: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    fill(c, "email", email).await;
    fill(c, "password", password).await;
    c.find(Locator::Id("login-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Css(".topbar")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_session_sees_a_new_detection_live_and_a_viewer_is_kept_out_of_admin_pages() {
    let Some((_driver, c)) = browser().await else {
        return;
    };
    let app = spawn_app(Backend::Sqlite).await;
    let _ = people(&app).await;
    let base = format!("http://{}", app.addr);

    login(&c, &base, "admin@cctv.test", "admin-password-1").await;
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/dashboard")
    );
    shot(&c, "dashboard-empty").await;

    // A branch and a device through the forms.
    c.goto(&format!("{base}/branches/new")).await.unwrap();
    choose(&c, "group_id", &app.estate.branches[0].group_id.to_string()).await;
    fill(&c, "branch_code", "BGR001").await;
    fill(&c, "branch_name", "Bogor Central").await;
    fill(&c, "city", "Bogor").await;
    shot(&c, "branch-form").await;
    c.find(Locator::Css("#resource-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Css(".flash")).await.unwrap();
    let branches = c.source().await.unwrap();
    assert!(branches.contains("BGR001"), "the new branch is listed");
    shot(&c, "branches").await;
    app.core.reload_caches().await.unwrap();
    let branch_id = app
        .core
        .estate()
        .branches
        .values()
        .find(|b| b.branch_code == "BGR001")
        .unwrap()
        .id;

    c.goto(&format!("{base}/devices/new")).await.unwrap();
    fill(&c, "device_id", "CAM_BGR001_001").await;
    fill(&c, "device_name", "Bogor Gate").await;
    choose(&c, "device_type", "camera").await;
    choose(&c, "branch_id", &branch_id.to_string()).await;
    c.find(Locator::Css("#resource-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Css(".flash")).await.unwrap();
    assert!(c.source().await.unwrap().contains("CAM_BGR001_001"));
    shot(&c, "devices").await;

    // The dashboard of that branch, connected live.
    c.goto(&format!("{base}/dashboard?branch_id={branch_id}"))
        .await
        .unwrap();
    eventually("the live connection", async || {
        c.execute(
            "return document.body.getAttribute('data-live-connected')",
            vec![],
        )
        .await
        .unwrap()
            == json!("1")
    })
    .await;
    let before: i64 = text_of(&c, "[data-live=\"detections-today\"]")
        .await
        .trim()
        .parse()
        .unwrap();
    let persons_before: i64 = text_of(&c, "[data-live=\"unique-persons\"]")
        .await
        .trim()
        .parse()
        .unwrap();
    let today = app.core.today().to_string();
    let bar = format!("#trend text[data-day=\"{today}\"]");
    let bar_before: i64 = text_of(&c, &bar).await.trim().parse().unwrap();
    let posted = app
        .post_json(&json!({"re_id": "REID_BROWSER_1", "branch_id": branch_id, "device_id": "CAM_BGR001_001", "detected_count": 2}))
        .await;
    assert_eq!(posted.status, 202, "{:?}", posted.body);
    eventually("the live counter", async || {
        text_of(&c, "[data-live=\"detections-today\"]").await.trim() == (before + 1).to_string()
    })
    .await;
    eventually("the recent detections row", async || {
        text_of(&c, "#recent-detections tbody")
            .await
            .contains("REID_BROWSER_1")
    })
    .await;
    // Every card the detection affects moves, without a reload.
    eventually("the unique persons card", async || {
        text_of(&c, "[data-live=\"unique-persons\"]").await.trim()
            == (persons_before + 1).to_string()
    })
    .await;
    eventually("today's bar of the 7-day chart", async || {
        text_of(&c, &bar).await.trim() == (bar_before + 1).to_string()
    })
    .await;
    eventually("the top branches table", async || {
        text_of(&c, "#top-branches").await.contains("Bogor Central")
    })
    .await;
    let row = text_of(&c, "#recent-detections tbody tr:first-child").await;
    assert!(
        row.contains("Bogor Central")
            && row.contains("Bogor Gate")
            && !row.contains("CAM_BGR001_001"),
        "names, not ids: {row}"
    );
    let time = row.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    assert!(
        time.len() == 19
            && cctv_core::jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S", &time).is_ok(),
        "a readable local time, not RFC 3339: {row}"
    );
    shot(&c, "dashboard-live").await;

    // The person page from the live row.
    c.find(Locator::LinkText("REID_BROWSER_1"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("#branch-summary"))
        .await
        .unwrap();
    let summary = text_of(&c, "#branch-summary").await;
    assert!(summary.contains("Bogor Central"), "{summary}");
    assert_eq!(
        text_of(&c, "[data-live=\"person-count\"]").await.trim(),
        "2"
    );
    shot(&c, "person").await;
    for (page, name) in [
        ("/persons", "persons"),
        ("/users", "users"),
        ("/audit-logs", "audit-logs"),
        ("/api-credentials", "api-credentials"),
    ] {
        c.goto(&format!("{base}{page}")).await.unwrap();
        shot(&c, name).await;
    }

    // The credential test page calls the device API from the browser.
    let created = crate::manage::call(
        &app,
        "POST",
        "/api/v1/api-credentials",
        Some(&admin_token(&app).await),
        Some(json!({"credential_name": "browser-test", "rate_limit": 500})),
    )
    .await;
    let cred = created.body["data"]["id"].as_i64().unwrap();
    let secret = created.body["data"]["api_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    c.goto(&format!("{base}/api-credentials/{cred}/test"))
        .await
        .unwrap();
    fill(&c, "secret", &secret).await;
    c.find(Locator::Css("#credential-test button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually("the API answer on the test page", async || {
        text_of(&c, "[data-out=\"status\"]")
            .await
            .starts_with("200")
    })
    .await;
    assert_eq!(text_of(&c, "[data-out=\"limit\"]").await, "500");
    assert!(
        text_of(&c, "[data-out=\"body\"]")
            .await
            .contains("\"success\": true")
    );
    shot(&c, "credential-test").await;

    // A phone (390 px wide): every main page fits the width (wide tables scroll inside
    // themselves, the page does not scroll sideways).
    c.set_window_size(390, 844).await.unwrap();
    for (page, name) in [
        (
            format!("/dashboard?branch_id={branch_id}"),
            "phone-dashboard",
        ),
        ("/persons".to_owned(), "phone-persons"),
        ("/events".to_owned(), "phone-events"),
        ("/reports".to_owned(), "phone-reports"),
        ("/analytics".to_owned(), "phone-analytics"),
        ("/devices".to_owned(), "phone-devices"),
        ("/devices/new".to_owned(), "phone-device-form"),
        ("/live".to_owned(), "phone-live"),
        ("/admin/queues".to_owned(), "phone-queues"),
    ] {
        c.goto(&format!("{base}{page}")).await.unwrap();
        let widths = c
            .execute(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
                vec![],
            )
            .await
            .unwrap();
        let (scroll, client) = (widths[0].as_i64().unwrap(), widths[1].as_i64().unwrap());
        shot(&c, name).await;
        assert!(
            scroll <= client,
            "{page} scrolls sideways on a phone: {scroll} px of content in {client} px"
        );
        // Every control has a label (a <label> or aria-label) for screen readers.
        let unlabelled = c
            .execute(
                "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
                    .map(e => e.name || e.id || e.outerHTML.slice(0, 60));",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(unlabelled, json!([]), "{page}: inputs without a label");
    }
    c.set_window_size(1366, 900).await.unwrap();

    // A viewer: no admin navigation, admin pages refused.
    c.delete_all_cookies().await.unwrap();
    login(&c, &base, "viewer@cctv.test", "secret-pass-1").await;
    assert_eq!(
        c.find_all(Locator::Css("a[href=\"/users\"]"))
            .await
            .unwrap()
            .len(),
        0
    );
    c.goto(&format!("{base}/users")).await.unwrap();
    assert!(text_of(&c, "main").await.contains("403"));
    shot(&c, "viewer-refused").await;

    c.close().await.unwrap();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_view_plays_cameras_through_the_proxy_with_the_session() {
    use crate::streams::{FakeCamera, camera, layout_with};
    let Some((_driver, c)) = browser().await else {
        return;
    };
    let app = spawn_app(Backend::Sqlite).await;
    let p = people(&app).await;
    let cam = FakeCamera::start("cam-user", "cam-pass").await;
    let b0 = app.branch(0);
    let creds = Some(("cam-user", "cam-pass"));
    camera(
        &app,
        &p.admin,
        "CAM_SNAP",
        b0,
        &cam.url("/snapshot.jpg"),
        creds,
    )
    .await;
    camera(
        &app,
        &p.admin,
        "CAM_MJPEG",
        b0,
        &cam.url("/video.mjpg"),
        creds,
    )
    .await;
    let layout = layout_with(&app, &p.admin, b0, "CAM_SNAP").await;
    let put = crate::manage::call(
        &app,
        "PUT",
        &format!("/api/v1/cctv/layouts/{layout}/positions/2"),
        Some(&p.admin),
        Some(json!({"branch_id": b0, "device_id": "CAM_MJPEG"})),
    )
    .await;
    assert_eq!(put.status, 200);
    let base = format!("http://{}", app.addr);

    login(&c, &base, "operator@cctv.test", "secret-pass-1").await;
    c.goto(&format!("{base}/live?layout_id={layout}"))
        .await
        .unwrap();
    // Both tiles draw the camera's frames: the <img> requests carry the session cookie,
    // the page's Content-Security-Policy allows them, and the camera got its credentials
    // from the server only.
    eventually("both camera tiles to draw a frame", async || {
        let widths = c
            .execute("return Array.from(document.querySelectorAll('.tile img')).map(i => i.naturalWidth)", vec![])
            .await
            .unwrap();
        widths == json!([32, 32])
    })
    .await;
    shot(&c, "live-proxy").await;
    let html = c.source().await.unwrap();
    assert!(!html.contains("cam-pass") && !html.contains(&cam.base));
    assert!(
        cam.seen_at("/video.mjpg")
            .iter()
            .all(|s| s.authorization.as_deref()
                == Some(crate::streams::basic("cam-user", "cam-pass").as_str()))
    );
    c.close().await.unwrap();
    app.stop().await;
}
