//! The writer's memory is used: a batch of known persons reads none of their state, and
//! a write in between makes the batch read everything again.

use cctv_core::estate::RecordStatus;
use cctv_core::storage::RegistryStore;
use cctv_testkit::{accept_and_process, job, prepare, seed};

use super::*;
use crate::SqliteSettings;

#[tokio::test]
async fn known_person_days_come_from_memory_until_something_else_writes() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = SqliteSettings::new(dir.path().join("cctv.db"));
    settings.fsync_every_commit = false;
    let store = SqliteStore::open(&settings).await.unwrap();
    let e = seed(&store).await;
    let first = [
        job(&e, 0, "P1", 1, "2026-11-28T08:00:00Z"),
        job(&e, 1, "P2", 1, "2026-11-28T08:00:00Z"),
    ];
    accept_and_process(&store, &first).await;
    let cache = store
        .processing_cache
        .lock()
        .unwrap()
        .take()
        .expect("remembered");
    assert_eq!(cache.len(), 2);

    let second = prepare(&[
        job(&e, 2, "P1", 1, "2026-11-28T09:00:00Z"),
        job(&e, 2, "P2", 1, "2026-11-28T09:00:00Z"),
        job(&e, 0, "P3", 1, "2026-11-28T09:00:00Z"),
    ]);
    let mut conn = store.writer.acquire().await.unwrap();
    let mut loaded = load(&mut conn, BatchKeys::of(&second), Some(cache))
        .await
        .unwrap();
    rollback(&mut conn).await;
    drop(conn);
    assert_eq!(loaded.read, 1, "only P3 is read from the database");
    let cache = loaded.cache.take().expect("the memory was valid");
    let p1 = ("P1".to_owned(), "2026-11-28".parse().unwrap());
    assert!(loaded.state.person_days.contains_key(&p1));
    assert_eq!(
        loaded
            .state
            .memberships
            .get(&(p1.0.clone(), p1.1, e.branches[0].id)),
        Some(&true)
    );

    store
        .set_person_day_status("P2", p1.1, RecordStatus::Inactive)
        .await
        .unwrap();
    let mut conn = store.writer.acquire().await.unwrap();
    let loaded = load(&mut conn, BatchKeys::of(&second), Some(cache))
        .await
        .unwrap();
    rollback(&mut conn).await;
    assert_eq!(
        loaded.read, 3,
        "a status edit in between: everything is read"
    );
    assert!(loaded.cache.is_none());
    assert!(loaded.state.person_days[&("P2".to_owned(), p1.1)].inactive);
}
