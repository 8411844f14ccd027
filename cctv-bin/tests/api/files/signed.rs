//! `/storage/file`: signed, expiring, registered, and only for people who may see the
//! file's branch.

use jiff::Timestamp;
use serde_json::json;

use super::*;
use crate::helpers::*;
use crate::manage::{call, login, people};

/// An operator of branch 1 only (the event below is on branch 0).
async fn other_operator(app: &TestApp, admin: &str) -> String {
    let r = call(
        app,
        "POST",
        "/api/v1/users",
        Some(admin),
        Some(
            json!({"name": "Other", "email": "other@cctv.test", "password": "secret-pass-2",
                    "role": "operator", "branch_ids": [app.branch(1)]}),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    login(app, "other@cctv.test", "secret-pass-2").await
}

fn in_secs(s: i64) -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second() + s).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_url_serves_a_registered_file_only_to_people_who_may_see_its_branch() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let who = people(&app).await;
        let other = other_operator(&app, &who.admin).await;
        let event = post_image(&app, "FILE_1", &jpeg(640, 480)).await;
        let row = settled_event(&app, event).await;
        let thumb = row["thumbnail_path"].as_str().unwrap().to_owned();
        let url = app.signer.sign(&thumb, in_secs(60)).unwrap().url();

        for token in [&who.admin, &who.viewer, &who.operator] {
            let (status, headers, body) = get_raw(&app, &url, Some(token)).await;
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            assert_eq!(headers["content-type"], "image/jpeg");
            assert!(
                headers["cache-control"].starts_with("private"),
                "{headers:?}"
            );
            assert_eq!(body, app.core.blobs().unwrap().get(&thumb).await.unwrap());
        }
        assert_eq!(
            get_raw(&app, &url, Some(&other)).await.0,
            403,
            "operator of another branch"
        );
        assert_eq!(get_raw(&app, &url, None).await.0, 401, "no bearer token");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_traversing_unregistered_and_expired_links_are_refused() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let who = people(&app).await;
        let admin = Some(who.admin.as_str());
        let event = post_image(&app, "FILE_2", &jpeg(640, 480)).await;
        let row = settled_event(&app, event).await;
        let (main, thumb) = (
            row["image_path"].as_str().unwrap().to_owned(),
            row["thumbnail_path"].as_str().unwrap().to_owned(),
        );
        let good = app.signer.sign(&thumb, in_secs(60)).unwrap();
        assert_eq!(get_raw(&app, &good.url(), admin).await.0, 200);

        let mut flipped = good.sig.clone().into_bytes();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        let tampered = format!(
            "/storage/file?path={thumb}&expires={}&sig={}",
            good.expires,
            String::from_utf8(flipped).unwrap()
        );
        assert_eq!(
            get_raw(&app, &tampered, admin).await.0,
            403,
            "tampered signature"
        );
        let moved = format!(
            "/storage/file?path={main}&expires={}&sig={}",
            good.expires, good.sig
        );
        assert_eq!(
            get_raw(&app, &moved, admin).await.0,
            403,
            "signature of another path"
        );
        let longer = format!(
            "/storage/file?path={thumb}&expires={}&sig={}",
            good.expires + 3600,
            good.sig
        );
        assert_eq!(
            get_raw(&app, &longer, admin).await.0,
            403,
            "extended expiry"
        );
        for bad in [
            "../cctv.db",
            "events/../../cctv.db",
            "/etc/passwd",
            "%2e%2e/cctv.db",
        ] {
            let url = format!(
                "/storage/file?path={bad}&expires={}&sig={}",
                good.expires, good.sig
            );
            let status = get_raw(&app, &url, admin).await.0;
            assert!(status == 403 || status == 404, "{bad}: {status}");
        }
        // A correctly signed path that exists in the store but is not registered.
        let planted = "events/2026/01/01/planted.jpg";
        app.core
            .blobs()
            .unwrap()
            .put(planted, b"not for you")
            .await
            .unwrap();
        let unregistered = app.signer.sign(planted, in_secs(60)).unwrap().url();
        assert_eq!(
            get_raw(&app, &unregistered, admin).await.0,
            404,
            "unregistered path"
        );

        // Valid for about a second: works now, refused once the second is over.
        let expires = in_secs(1);
        let short = app.signer.sign(&thumb, expires).unwrap().url();
        assert_eq!(get_raw(&app, &short, admin).await.0, 200, "before expiry");
        while Timestamp::now() < expires {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let (status, _, body) = get_raw(&app, &short, admin).await;
        assert_eq!(status, 403, "after expiry");
        assert!(String::from_utf8_lossy(&body).contains("expired"));
        app.stop().await;
    }
}
