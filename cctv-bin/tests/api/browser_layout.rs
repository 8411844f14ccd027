//! Page widths in a real browser: the dashboard and the live view on a phone (390 px)
//! never scroll sideways, and every window of an 8-window live grid is inside the
//! viewport on common desktop screens. Names are as long as the demo estate's, where the
//! branch and device pickers grow widest. Screenshots go to `target/browser-artifacts/`.

use fantoccini::Client;
use serde_json::{Value, json};

use crate::browser::{browser, login, shot};
use crate::helpers::*;
use crate::manage::{call, people};

/// `[scrollWidth, clientWidth]` of the page, and `[left, right]` of every live window.
async fn measure(c: &Client) -> (i64, i64, Vec<(i64, i64)>) {
    let v = c
        .execute(
            "const d = document.documentElement;
             return [d.scrollWidth, d.clientWidth, [...document.querySelectorAll('.tile')]
                 .map(t => { const r = t.getBoundingClientRect(); return [Math.floor(r.left), Math.ceil(r.right)]; })];",
            vec![],
        )
        .await
        .unwrap();
    let tiles = v[2]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t[0].as_i64().unwrap(), t[1].as_i64().unwrap()))
        .collect();
    (v[0].as_i64().unwrap(), v[1].as_i64().unwrap(), tiles)
}

/// An 8-window default layout showing every seeded device, each with a stream.
async fn eight_windows(app: &TestApp, admin: &str) -> i64 {
    let admin = Some(admin);
    for (n, (branch, device)) in [
        (
            "Bandung Buah Batu Branch",
            "Bandung Buah Batu Entrance Camera",
        ),
        // A branch named after the mall it is in, as branches often are.
        (
            "Surabaya Tunjungan Plaza 6 Shopping Centre Branch",
            "Surabaya Tunjungan Parking Camera",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let r = call(
            app,
            "PUT",
            &format!("/api/v1/company-branches/{}", app.branch(n)),
            admin,
            Some(json!({"branch_name": branch})),
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let r = call(
            app,
            "PUT",
            &format!("/api/v1/device-masters/{}", app.estate.devices[n].id),
            admin,
            Some(json!({"device_name": device})),
        )
        .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let r = call(
            app,
            "POST",
            "/api/v1/cctv-streams",
            admin,
            Some(json!({
            "branch_id": app.branch(n), "device_id": app.device(n), "stream_name": device,
            "url": if n == 0 { "http://127.0.0.1:9/video.mjpg" } else { "rtsp://127.0.0.1:9/live" },
            "stream_protocol": if n == 0 { "mjpeg" } else { "rtsp" }})),
        )
        .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let positions: Vec<Value> = (1..=8)
        .map(|i| {
            let n = (i % 2) as usize;
            json!({"position_number": i, "branch_id": app.branch(n), "device_id": app.device(n)})
        })
        .collect();
    let r = call(
        app,
        "POST",
        "/api/v1/cctv-layouts",
        admin,
        Some(json!({
        "layout_name": "Head office wall", "layout_type": "8-window", "is_default": true,
        "positions": positions})),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["data"]["id"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_and_an_eight_window_live_view_fit_phones_and_desktop_screens() {
    let Some((_driver, c)) = browser().await else {
        return;
    };
    let app = spawn_app(Backend::Sqlite).await;
    let _ = people(&app).await;
    let admin = crate::manage::login(&app, "admin@cctv.test", "admin-password-1").await;
    let layout = eight_windows(&app, &admin).await;
    app.core.reload_caches().await.unwrap();
    let base = format!("http://{}", app.addr);
    login(&c, &base, "admin@cctv.test", "admin-password-1").await;

    c.set_window_size(390, 844).await.unwrap();
    for (page, name) in [
        ("/dashboard".to_owned(), "phone-dashboard-all"),
        (
            format!("/dashboard?branch_id={}", app.branch(1)),
            "phone-dashboard-branch",
        ),
        (format!("/live?layout_id={layout}"), "phone-live-8"),
    ] {
        c.goto(&format!("{base}{page}")).await.unwrap();
        let (scroll, client, tiles) = measure(&c).await;
        shot(&c, name).await;
        assert!(
            scroll <= client,
            "{page} scrolls sideways on a phone: {scroll} px of content in {client} px"
        );
        if page.starts_with("/live") {
            assert_eq!(tiles.len(), 8, "{page}: every window is shown");
        }
    }

    for (width, height) in [(1366, 768), (1920, 1080)] {
        c.set_window_size(width, height).await.unwrap();
        c.goto(&format!("{base}/live?layout_id={layout}"))
            .await
            .unwrap();
        let (scroll, client, tiles) = measure(&c).await;
        shot(&c, &format!("live-8-{width}")).await;
        assert_eq!(tiles.len(), 8);
        let outside: Vec<_> = tiles
            .iter()
            .enumerate()
            .filter(|(_, (left, right))| *left < 0 || *right > client)
            .collect();
        assert!(
            outside.is_empty() && scroll <= client,
            "{width}x{height}: windows (index, [left, right]) outside 0..{client} px: {outside:?}; page {scroll} px wide"
        );
    }
    c.close().await.unwrap();
    app.stop().await;
}

/// Every main page, list, form and detail page of an admin: at 390 px (a phone) and at
/// 1366 and 1920 px the page itself never scrolls sideways (wide tables scroll inside
/// their own box).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_main_page_fits_a_phone_and_desktop_screens() {
    let Some((_driver, c)) = browser().await else {
        return;
    };
    let app = spawn_app(Backend::Sqlite).await;
    let _ = people(&app).await;
    let admin = crate::manage::login(&app, "admin@cctv.test", "admin-password-1").await;
    let layout = eight_windows(&app, &admin).await;
    let posted = app
        .post_json(&json!({"re_id": "REID_LAYOUT_WITH_A_LONG_NAME_0001", "branch_id": app.branch(1), "device_id": app.device(1), "detected_count": 3}))
        .await;
    assert_eq!(posted.status, 202, "{:?}", posted.body);
    app.wait_completed(posted.body["data"]["job_id"].as_str().unwrap())
        .await;
    let settings = call(
        &app,
        "POST",
        "/api/v1/branch-event-settings",
        Some(&admin),
        Some(json!({"branch_id": app.branch(0), "device_id": app.device(0), "is_active": true,
            "webhook_enabled": true, "webhook_urls": ["https://hooks.example.com/a/very/long/path/that/keeps/going/T0K3N"]})),
    )
    .await;
    assert_eq!(settings.status, 201, "{:?}", settings.body);
    let settings = settings.body["data"]["id"].as_i64().unwrap();
    let event = app
        .core
        .storage()
        .find_record(
            &cctv_admin::notify::context::EVENT_LOGS,
            &[cctv_core::records::Filter::Eq(
                "re_id",
                json!("REID_LAYOUT_WITH_A_LONG_NAME_0001"),
            )],
        )
        .await
        .unwrap()
        .expect("the event of the detection")["id"]
        .as_i64()
        .unwrap();
    app.core.reload_caches().await.unwrap();
    let base = format!("http://{}", app.addr);
    login(&c, &base, "admin@cctv.test", "admin-password-1").await;

    let pages = [
        "/dashboard".to_owned(),
        "/persons".into(),
        "/persons/REID_LAYOUT_WITH_A_LONG_NAME_0001".into(),
        "/events".into(),
        format!("/events/{event}"),
        "/reports".into(),
        "/reports?kind=monthly".into(),
        "/analytics".into(),
        format!("/live?layout_id={layout}"),
        "/groups".into(),
        "/branches".into(),
        "/branches/new".into(),
        "/devices".into(),
        "/devices/new".into(),
        "/streams".into(),
        "/event-settings".into(),
        format!("/event-settings/{settings}/edit"),
        "/whatsapp-settings".into(),
        "/users".into(),
        "/users/new".into(),
        "/api-credentials".into(),
        "/audit-logs".into(),
        "/admin/queues".into(),
        "/admin/schedule".into(),
        "/admin/usage".into(),
        "/admin/tokens".into(),
        "/api/docs".into(),
    ];
    let mut too_wide = Vec::new();
    for (width, height) in [(390, 844), (1366, 768), (1920, 1080)] {
        c.set_window_size(width, height).await.unwrap();
        for page in &pages {
            c.goto(&format!("{base}{page}")).await.unwrap();
            let (scroll, client, _) = measure(&c).await;
            if scroll > client {
                shot(
                    &c,
                    &format!("too-wide-{width}{}", page.replace(['/', '?', '='], "-")),
                )
                .await;
                too_wide.push(format!(
                    "{width} px {page}: {scroll} px of content in {client} px"
                ));
            }
        }
    }
    assert!(
        too_wide.is_empty(),
        "pages that scroll sideways: {too_wide:#?}"
    );
    c.close().await.unwrap();
    app.stop().await;
}
