//! Retention cleanup: what is older than the retention goes (files, thumbnails, registry
//! rows, event references, log files), and nothing newer.

use std::time::Duration;

use cctv_admin::files::cleanup::{CleanupSettings, cleanup};
use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::helpers::*;

fn created(rows: &[Record]) -> Vec<Timestamp> {
    rows.iter()
        .map(|r| r["created_at"].as_str().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_removes_files_and_logs_older_than_the_retention_and_nothing_newer() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let old_event = post_image(&app, "OLD", &jpeg(640, 480)).await;
        settled_event(&app, old_event).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let new_event = post_image(&app, "NEW", &jpeg(640, 480)).await;
        let new_row = settled_event(&app, new_event).await;
        let old_files = event_files(&app, old_event).await;
        let new_files = event_files(&app, new_event).await;
        assert_eq!((old_files.len(), new_files.len()), (3, 3));

        // "Now" is 90 days after a moment between the two uploads.
        let newest_old = created(&old_files).into_iter().max().unwrap();
        let oldest_new = created(&new_files).into_iter().min().unwrap();
        assert!(newest_old < oldest_new);
        let between = newest_old + (oldest_new.duration_since(newest_old) / 2);
        let retention = Duration::from_secs(90 * 24 * 3600);
        let now = between + SignedDuration::try_from(retention).unwrap();

        let logs = app.dir.path().join("logs");
        let day = |t: Timestamp| t.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
        let old_log = logs
            .join("api_requests")
            .join(format!("{}.log", day(between) - jiff::Span::new().days(1)));
        let new_log = logs
            .join("whatsapp_messages")
            .join(format!("{}.log", day(now)));
        for path in [&old_log, &new_log] {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "{}\n").unwrap();
        }

        let settings = CleanupSettings {
            retention,
            logs_dir: Some(logs.clone()),
            ..CleanupSettings::default()
        };
        let report = cleanup(&app.core, &settings, now).await.unwrap();

        assert_eq!(report.files_deleted, 3, "{report:?}");
        assert_eq!(report.failures, 0);
        assert_eq!(report.log_files_deleted, 1);
        let blobs = app.core.blobs().unwrap();
        for f in &old_files {
            let path = f["file_path"].as_str().unwrap();
            assert!(!blobs.exists(path).await.unwrap(), "{path} deleted");
            assert!(
                registry_row(&app, path).await.is_none(),
                "{path} unregistered"
            );
        }
        for f in &new_files {
            let path = f["file_path"].as_str().unwrap();
            assert!(blobs.exists(path).await.unwrap(), "{path} kept");
            assert!(
                registry_row(&app, path).await.is_some(),
                "{path} still registered"
            );
        }
        let old = event_row(&app, old_event).await;
        assert!(
            old["image_path"].is_null() && old["thumbnail_path"].is_null(),
            "{old:?}"
        );
        let new = event_row(&app, new_event).await;
        assert_eq!(new["image_path"], new_row["image_path"]);
        assert_eq!(new["thumbnail_path"], new_row["thumbnail_path"]);
        assert!(!old_log.exists() && new_log.exists());

        let again = cleanup(&app.core, &settings, now).await.unwrap();
        assert_eq!(
            (again.files_deleted, again.log_files_deleted),
            (0, 0),
            "nothing left to do"
        );
        app.stop().await;
    }
}
