//! The whole file path on the S3 image store, against a real S3-compatible server on
//! loopback: upload → processed JPEG and thumbnail in the bucket, served by signed URL,
//! deleted from the bucket by retention cleanup. Skipped (with a message) when no S3 test
//! server can be started; `.ci/run` installs one.

use std::sync::Arc;
use std::time::Duration;

use cctv_admin::files::cleanup::{CleanupSettings, cleanup};
use cctv_blob_s3::S3BlobStore;
use cctv_blob_s3::testing::S3Server;
use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::helpers::*;
use crate::manage::people;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_live_in_the_bucket_are_served_signed_and_expire_from_it() {
    let Some(server) = S3Server::shared() else {
        return;
    };
    let bucket = server.new_bucket("files");
    let store = S3BlobStore::new(&server.settings(&bucket, "estate")).unwrap();
    let app = spawn_app_with(
        Backend::Sqlite,
        AppOptions {
            blobs: Some(Arc::new(store)),
            ..AppOptions::default()
        },
    )
    .await;
    let who = people(&app).await;
    let event = post_image(&app, "S3_IMG", &jpeg(1600, 1200)).await;
    let row = settled_event(&app, event).await;
    assert!(row["image_error"].is_null(), "{row:?}");
    let main = row["image_path"].as_str().unwrap().to_owned();
    let thumb = row["thumbnail_path"].as_str().unwrap().to_owned();

    // Every registered file is an object under the prefix, and nothing is on local disk.
    let files = event_files(&app, event).await;
    assert_eq!(files.len(), 3, "upload, processed image, thumbnail");
    let mut keys = server.keys(&bucket, "estate/");
    keys.sort();
    let mut expected: Vec<String> = files
        .iter()
        .map(|f| format!("estate/{}", f["file_path"].as_str().unwrap()))
        .collect();
    expected.sort();
    assert_eq!(keys, expected);
    assert!(
        !app.dir.path().join("storage").exists(),
        "no local image directory"
    );
    let decoded =
        image::load_from_memory(&app.core.blobs().unwrap().get(&main).await.unwrap()).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (1440, 1080));

    // Signed URLs serve the bucket's bytes; a tampered one does not.
    let url = app
        .signer
        .sign(&thumb, Timestamp::now() + SignedDuration::from_secs(60))
        .unwrap()
        .url();
    let (status, headers, body) = get_raw(&app, &url, Some(&who.viewer)).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["content-type"], "image/jpeg");
    assert_eq!(body, app.core.blobs().unwrap().get(&thumb).await.unwrap());
    let tampered = url.replace("sig=", "sig=A");
    assert_eq!(get_raw(&app, &tampered, Some(&who.viewer)).await.0, 403);

    // Cleanup 91 days on removes the objects, the registry rows and the event's references.
    let newest = files
        .iter()
        .map(|f| {
            f["created_at"]
                .as_str()
                .unwrap()
                .parse::<Timestamp>()
                .unwrap()
        })
        .max()
        .unwrap();
    let settings = CleanupSettings {
        retention: Duration::from_secs(90 * 24 * 3600),
        ..CleanupSettings::default()
    };
    let report = cleanup(
        &app.core,
        &settings,
        newest + SignedDuration::from_hours(91 * 24),
    )
    .await
    .unwrap();
    assert_eq!(
        (report.files_deleted, report.failures),
        (3, 0),
        "{report:?}"
    );
    assert!(
        server.keys(&bucket, "estate/").is_empty(),
        "objects deleted"
    );
    let after = event_row(&app, event).await;
    assert!(after["image_path"].is_null() && after["thumbnail_path"].is_null());
    assert_eq!(get_raw(&app, &url, Some(&who.viewer)).await.0, 404);
    app.stop().await;
}
