//! The S3 store against a real S3-compatible server on loopback (see `testing`).

use std::time::{Duration, Instant};

use cctv_blob_s3::testing::S3Server;
use cctv_blob_s3::{S3BlobStore, S3Settings};
use cctv_core::blob::{BlobError, BlobStore};

fn store(server: &S3Server, label: &str, prefix: &str) -> (S3BlobStore, String) {
    let bucket = server.new_bucket(label);
    let store = S3BlobStore::new(&server.settings(&bucket, prefix)).unwrap();
    (store, bucket)
}

#[tokio::test]
async fn blobs_round_trip_under_the_prefix() {
    let Some(server) = S3Server::shared() else {
        return;
    };
    let (store, bucket) = store(server, "trip", "site/a");
    let path = "events/2026/11/28/1795827723_x.jpg";
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();

    assert!(!store.exists(path).await.unwrap());
    assert!(matches!(store.get(path).await, Err(BlobError::NotFound)));
    store.put(path, &bytes).await.unwrap();
    assert!(store.exists(path).await.unwrap());
    assert_eq!(
        store.get(path).await.unwrap(),
        bytes,
        "bytes come back whole"
    );
    assert_eq!(
        server.keys(&bucket, "site/a/"),
        vec![format!("site/a/{path}")],
        "the object sits under the prefix, nothing else was written"
    );

    store.put(path, b"replaced").await.unwrap();
    assert_eq!(store.get(path).await.unwrap(), b"replaced");

    store.delete(path).await.unwrap();
    store.delete(path).await.unwrap();
    assert!(!store.exists(path).await.unwrap());
    assert!(server.keys(&bucket, "").is_empty());
}

#[tokio::test]
async fn two_prefixes_in_one_bucket_do_not_see_each_other() {
    let Some(server) = S3Server::shared() else {
        return;
    };
    let bucket = server.new_bucket("prefixes");
    let a = S3BlobStore::new(&server.settings(&bucket, "a")).unwrap();
    let b = S3BlobStore::new(&server.settings(&bucket, "b")).unwrap();
    a.put("events/x.jpg", b"from a").await.unwrap();
    assert!(!b.exists("events/x.jpg").await.unwrap());
    b.put("events/x.jpg", b"from b").await.unwrap();
    assert_eq!(a.get("events/x.jpg").await.unwrap(), b"from a");
    a.probe("node-1").await.unwrap();
    assert_eq!(
        server.keys(&bucket, "").len(),
        2,
        "the probe leaves nothing"
    );
}

#[tokio::test]
async fn traversal_never_reaches_the_server() {
    let Some(server) = S3Server::shared() else {
        return;
    };
    let (store, bucket) = store(server, "traversal", "p");
    for bad in ["../escape.jpg", "p/../../x", "/abs.jpg", ""] {
        assert!(
            matches!(store.put(bad, b"x").await, Err(BlobError::InvalidPath(_))),
            "{bad}"
        );
    }
    assert!(server.keys(&bucket, "").is_empty());
}

#[tokio::test]
async fn a_missing_bucket_or_a_dead_endpoint_is_unavailable_in_seconds() {
    let Some(server) = S3Server::shared() else {
        return;
    };
    let missing = S3BlobStore::new(&server.settings("no-such-bucket-here", "")).unwrap();
    let err = missing.probe("n").await.unwrap_err();
    assert!(
        matches!(err, BlobError::Unavailable(_) | BlobError::NotFound),
        "{err}"
    );

    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = S3BlobStore::new(&S3Settings {
        endpoint: format!("http://127.0.0.1:{dead_port}"),
        ..server.settings("images", "")
    })
    .unwrap();
    let started = Instant::now();
    let err = dead.put("events/a.jpg", b"x").await.unwrap_err();
    assert!(matches!(err, BlobError::Unavailable(_)), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "gave up after {:?}",
        started.elapsed()
    );
}
