//! The shared storage conformance suite on a real PostgreSQL server.
//!
//! Runs when `CCTV_TEST_PG_URL` is set (CI sets it); each test gets its own schema.

use std::sync::Arc;

use cctv_admin::FullStorage;
use cctv_storage_postgres::{PgSettings, PgStore};
use jiff::Timestamp;

async fn fresh_store() -> Option<Arc<dyn FullStorage>> {
    let Ok(url) = std::env::var("CCTV_TEST_PG_URL") else {
        eprintln!("CCTV_TEST_PG_URL is not set: skipping the PostgreSQL conformance test");
        return None;
    };
    let mut settings = PgSettings::new(url);
    settings.schema = Some(format!("t_{}", uuid::Uuid::new_v4().simple()));
    settings.max_connections = 8;
    Some(Arc::new(
        PgStore::open(&settings).await.expect("open postgres"),
    ))
}

cctv_testkit::storage_conformance_tests!(fresh_store);

/// A group commit is stored whole or not at all, with or without idempotency keys:
/// without keys it is one statement on its own (no transaction around it), with keys a
/// transaction of the lookup and the insert.
#[tokio::test]
async fn a_group_that_fails_stores_none_of_its_detections() {
    let Some(store) = fresh_store().await else {
        return;
    };
    let estate = cctv_testkit::seed(store.as_ref()).await;
    for keyed in [false, true] {
        let mut jobs: Vec<_> = (0..3)
            .map(|i| cctv_testkit::job(&estate, i, &format!("P{i}"), 1, "2026-11-28T08:00:00Z"))
            .collect();
        if keyed {
            for (i, job) in jobs.iter_mut().enumerate() {
                job.credential_id = Some(7);
                job.event_id = Some(format!("evt-{i}"));
            }
        }
        // The first job twice: the third row breaks the primary key, after two good rows.
        jobs[2].job_id = jobs[0].job_id;
        let items = cctv_testkit::accept_items(&jobs);
        assert!(
            store
                .accept_detections(&items, Timestamp::now())
                .await
                .is_err(),
            "keyed: {keyed}"
        );
        for job in &jobs[..2] {
            assert!(
                store.job(job.job_id).await.unwrap().is_none(),
                "keyed: {keyed}: a failed group stored a job"
            );
        }
        // The group without its bad row is stored whole.
        let outcomes = store
            .accept_detections(&items[..2], Timestamp::now())
            .await
            .unwrap();
        assert_eq!(outcomes.len(), 2);
        for job in &jobs[..2] {
            assert!(
                store.job(job.job_id).await.unwrap().is_some(),
                "keyed: {keyed}"
            );
        }
    }
}
