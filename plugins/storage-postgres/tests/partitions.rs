//! Month partitions on a real PostgreSQL (skipped without `CCTV_TEST_PG_URL`): rows land in
//! their month, a month created late takes its rows over from the default partition,
//! retention drops whole months with their deliveries, and the migration from the
//! unpartitioned tables keeps every row and id.

use std::borrow::Cow;

use cctv_admin::schedule::ScheduleStore;
use cctv_storage_postgres::{PgSettings, PgStore};
use jiff::civil::Date;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};
use std::str::FromStr;

/// A fresh schema and a pool whose connections use it.
async fn schema() -> Option<(String, String, PgPool)> {
    let Ok(url) = std::env::var("CCTV_TEST_PG_URL") else {
        eprintln!("CCTV_TEST_PG_URL is not set: partition test skipped");
        return None;
    };
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let admin = PgPool::connect(&url).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let options = PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .unwrap();
    Some((url, schema, pool))
}

async fn open(url: &str, schema: &str) -> PgStore {
    let mut settings = PgSettings::new(url.to_owned());
    settings.schema = Some(schema.to_owned());
    settings.max_connections = 2;
    PgStore::open(&settings).await.unwrap()
}

/// One group, branch and device (`D1` at branch 1).
async fn estate(pool: &PgPool) {
    for sql in [
        "INSERT INTO company_groups (id, province_code, province_name, group_name, created_at, updated_at) \
         VALUES (1, 'P1', 'Province', 'Group', now(), now())",
        "INSERT INTO company_branches (id, group_id, branch_code, branch_name, city, created_at, updated_at) \
         VALUES (1, 1, 'B1', 'Branch', 'City', now(), now())",
        "INSERT INTO device_masters (device_id, device_name, branch_id, created_at, updated_at) \
         VALUES ('D1', 'Camera', 1, now(), now())",
    ] {
        sqlx::query(sql).execute(pool).await.unwrap();
    }
}

/// A detection and its event on `date`, and one delivery of the event: the two ids.
async fn detection(pool: &PgPool, date: &str, re_id: &str) -> (i64, i64) {
    let detection: i64 = sqlx::query_scalar(
        "INSERT INTO re_id_branch_detections (re_id, branch_id, device_id, detection_timestamp, \
         detection_date, detection_hour, job_id, created_at, updated_at) \
         VALUES ($1, 1, 'D1', $2::date + time '10:00', $2::date, 10, gen_random_uuid(), now(), now()) \
         RETURNING id",
    )
    .bind(re_id)
    .bind(date)
    .fetch_one(pool)
    .await
    .unwrap();
    let event: i64 = sqlx::query_scalar(
        "INSERT INTO event_logs (branch_id, device_id, re_id, event_timestamp, event_date, \
         detection_id, created_at, updated_at) \
         VALUES (1, 'D1', $1, $2::date + time '10:00', $2::date, $3, now(), now()) RETURNING id",
    )
    .bind(re_id)
    .bind(date)
    .bind(detection)
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO notification_deliveries (event_log_id, branch_id, device_id, recipient, \
         channel, status, attempt, created_at, updated_at) \
         VALUES ($1, 1, 'D1', '+6281234567890', 'whatsapp', 'sent', 1, now(), now())",
    )
    .bind(event)
    .execute(pool)
    .await
    .unwrap();
    (detection, event)
}

/// The partition holding detection `id`, and the one holding event `id`.
async fn homes(pool: &PgPool, (detection, event): (i64, i64)) -> (String, String) {
    let d: String = sqlx::query_scalar(
        "SELECT tableoid::regclass::text FROM re_id_branch_detections WHERE id = $1",
    )
    .bind(detection)
    .fetch_one(pool)
    .await
    .unwrap();
    let e: String =
        sqlx::query_scalar("SELECT tableoid::regclass::text FROM event_logs WHERE id = $1")
            .bind(event)
            .fetch_one(pool)
            .await
            .unwrap();
    (d, e)
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[tokio::test]
async fn rows_live_in_their_month_and_retention_drops_whole_months() {
    let Some((url, schema, pool)) = schema().await else {
        return;
    };
    let store = open(&url, &schema).await;
    estate(&pool).await;
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    let month = |d: Date| d.strftime("%Y_%m").to_string();

    // This month has its partitions from the start.
    let now_row = detection(&pool, &today.to_string(), "NOW").await;
    assert_eq!(
        homes(&pool, now_row).await,
        (
            format!("re_id_branch_detections_{}", month(today)),
            format!("event_logs_{}", month(today))
        )
    );

    // A month without a partition yet goes to the default partition; when its month is
    // created the rows move in, deliveries and all.
    let later = today.first_of_month() + jiff::Span::new().months(6);
    let later_row = detection(&pool, &later.to_string(), "LATER").await;
    assert_eq!(
        homes(&pool, later_row).await,
        (
            "re_id_branch_detections_default".to_owned(),
            "event_logs_default".to_owned()
        )
    );
    let report = store.maintain_partitions(later, None).await.unwrap();
    assert!(
        report
            .created
            .contains(&format!("event_logs_{}", month(later))),
        "{report:?}"
    );
    assert!(report.dropped.is_empty());
    assert_eq!(
        homes(&pool, later_row).await,
        (
            format!("re_id_branch_detections_{}", month(later)),
            format!("event_logs_{}", month(later))
        )
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM notification_deliveries").await,
        2,
        "moving rows keeps their deliveries"
    );

    // Fourteen months back (the migration made no partition for it) and twelve months back.
    let old = today.first_of_month() - jiff::Span::new().months(14);
    let year_ago = today.first_of_month() - jiff::Span::new().months(12);
    let old_row = detection(&pool, &old.to_string(), "OLD").await;
    store.maintain_partitions(year_ago, None).await.unwrap();
    let year_row = detection(&pool, &year_ago.to_string(), "YEAR").await;
    assert_eq!(homes(&pool, old_row).await.1, "event_logs_default");
    assert_eq!(
        homes(&pool, year_row).await.1,
        format!("event_logs_{}", month(year_ago))
    );

    // Keep 12 months (this one and the 11 before): the year-old month and the older rows go.
    let report = store.maintain_partitions(today, Some(12)).await.unwrap();
    assert_eq!(
        report.dropped,
        vec![
            format!("re_id_branch_detections_{}", month(year_ago)),
            format!("event_logs_{}", month(year_ago)),
        ]
    );
    let left: Vec<String> = sqlx::query("SELECT re_id FROM re_id_branch_detections ORDER BY re_id")
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(left, ["LATER", "NOW"]);
    assert_eq!(count(&pool, "SELECT count(*) FROM event_logs").await, 2);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM notification_deliveries").await,
        2,
        "the dropped months' deliveries are gone, the others kept"
    );

    // Deleting an event (its branch removed, say) still removes its deliveries.
    sqlx::query("DELETE FROM event_logs WHERE id = $1")
        .bind(now_row.1)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        count(&pool, "SELECT count(*) FROM notification_deliveries").await,
        1
    );
    store.close().await;
}

#[tokio::test]
async fn the_migration_keeps_every_row_and_id_of_the_unpartitioned_tables() {
    let Some((url, schema, pool)) = schema().await else {
        return;
    };
    // The schema as it was before partitions.
    let mut before = sqlx::migrate!("../../migrations/postgres");
    let earlier: Vec<_> = before
        .migrations
        .iter()
        .filter(|m| m.version < 20261203000013)
        .cloned()
        .collect();
    assert!(
        earlier.len() < before.migrations.len(),
        "the partition step exists"
    );
    before.migrations = Cow::Owned(earlier);
    before.run(&pool).await.unwrap();
    estate(&pool).await;
    let mut rows = Vec::new();
    for (i, date) in ["2025-03-31", "2025-04-01", "2026-01-15", "2026-01-16"]
        .into_iter()
        .enumerate()
    {
        rows.push(detection(&pool, date, &format!("P{i}")).await);
    }
    let dump = |pool: PgPool| async move {
        let d: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT id, re_id, detection_date::text FROM re_id_branch_detections ORDER BY id",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let e: Vec<(i64, Option<i64>, String)> =
            sqlx::query_as("SELECT id, detection_id, event_date::text FROM event_logs ORDER BY id")
                .fetch_all(&pool)
                .await
                .unwrap();
        (d, e)
    };
    let was = dump(pool.clone()).await;

    let store = open(&url, &schema).await;
    assert_eq!(dump(pool.clone()).await, was, "every row and id kept");
    assert_eq!(
        homes(&pool, rows[0]).await.0,
        "re_id_branch_detections_2025_03"
    );
    assert_eq!(homes(&pool, rows[1]).await.1, "event_logs_2025_04");
    assert_eq!(
        count(&pool, "SELECT count(*) FROM notification_deliveries").await,
        4
    );
    let max_before = rows.iter().map(|r| r.0).max().unwrap();
    let fresh = detection(&pool, "2026-01-20", "NEW").await;
    assert!(fresh.0 > max_before, "ids go on after the copied ones");
    let partitioned = count(
        &pool,
        "SELECT count(*) FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid \
         WHERE c.relname IN ('re_id_branch_detections', 'event_logs') \
         AND c.relnamespace = current_schema()::regnamespace",
    )
    .await;
    assert_eq!(partitioned, 2);
    store.close().await;
}
