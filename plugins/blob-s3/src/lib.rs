//! # cctv-blob-s3
//!
//! Blob store on an S3-compatible object store (AWS S3, MinIO, Ceph RGW, …), built on the
//! `object_store` crate. It is what lets several `cctv serve` nodes share images without a
//! shared filesystem: an image uploaded to one node is processed and served by any other.
//!
//! Every blob path is kept under an optional key prefix in one bucket
//! (`<prefix>/events/2026/11/28/…jpg`). An S3 `PUT` replaces an object whole, so a reader
//! never sees a partial image, which is what [`BlobStore`] asks of a store.
//!
//! Credentials come from the environment, the way every AWS tool reads them
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, or an instance
//! role); they never pass through cctv's configuration files or logs.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use cctv_core::blob::{BlobError, BlobStore, check_blob_path};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{BackoffConfig, ClientOptions, ObjectStoreExt, PutPayload, RetryConfig};

#[cfg(feature = "testing")]
pub mod testing;

/// Where the images live. Only `bucket` is required.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Settings {
    pub bucket: String,
    /// Key prefix inside the bucket (no leading or trailing `/`), e.g. `cctv/prod`; empty:
    /// the bucket's root.
    pub prefix: String,
    /// Endpoint URL of a non-AWS server (`http://minio.internal:9000`); empty: AWS itself,
    /// or `AWS_ENDPOINT` from the environment. Plain `http://` is allowed only when named here.
    pub endpoint: String,
    /// Region; empty: `AWS_REGION` / `AWS_DEFAULT_REGION`, else `us-east-1`.
    pub region: String,
    /// Explicit credentials (embedders and tests); `None`: the environment's
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, an instance role).
    pub credentials: Option<S3Credentials>,
}

/// An access key pair; shown by `Debug` without its secret.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// An S3 bucket (and key prefix) as a [`BlobStore`].
#[derive(Clone)]
pub struct S3BlobStore {
    store: AmazonS3,
    bucket: String,
    prefix: String,
}

/// Shows where the store points, never its credentials.
impl fmt::Debug for S3BlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3BlobStore")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// How long one request may take. An upload is part of a device's request, so a slow or
/// unreachable store must fail the request in seconds, not in the crate's default minutes.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Transient failures (5xx, dropped connections) are retried this often within this time.
const RETRIES: usize = 2;
const RETRY_WITHIN: Duration = Duration::from_secs(15);

impl S3BlobStore {
    /// Configures the client; nothing is sent until the first request (see
    /// [`S3BlobStore::probe`] to check the bucket at start).
    pub fn new(settings: &S3Settings) -> Result<Self, BlobError> {
        let bucket = settings.bucket.trim();
        if bucket.is_empty() {
            return Err(BlobError::InvalidPath("the S3 bucket is not set".into()));
        }
        let prefix = settings.prefix.trim().trim_matches('/').to_owned();
        if !prefix.is_empty() {
            check_blob_path(&prefix)?;
        }
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_client_options(
                ClientOptions::new()
                    .with_timeout(REQUEST_TIMEOUT)
                    .with_connect_timeout(CONNECT_TIMEOUT),
            )
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: RETRIES,
                retry_timeout: RETRY_WITHIN,
            });
        if let Some(c) = &settings.credentials {
            builder = builder
                .with_access_key_id(&c.access_key_id)
                .with_secret_access_key(&c.secret_access_key);
            if let Some(token) = &c.session_token {
                builder = builder.with_token(token);
            }
        }
        let region = settings.region.trim();
        if !region.is_empty() {
            builder = builder.with_region(region);
        }
        let endpoint = settings.endpoint.trim().trim_end_matches('/');
        if !endpoint.is_empty() {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let store = builder
            .build()
            .map_err(|e| BlobError::Unavailable(format!("configuring S3: {e}")))?;
        Ok(Self {
            store,
            bucket: bucket.to_owned(),
            prefix,
        })
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Writes, reads back and deletes one small object, so a wrong bucket, endpoint or
    /// credential is reported at start instead of at the first upload.
    pub async fn probe(&self, name: &str) -> Result<(), BlobError> {
        let path = format!("probe/{name}");
        self.put(&path, name.as_bytes()).await?;
        let back = self.get(&path).await?;
        self.delete(&path).await?;
        if back == name.as_bytes() {
            Ok(())
        } else {
            Err(BlobError::Unavailable(
                "the bucket returned other bytes than were written".into(),
            ))
        }
    }

    fn key(&self, path: &str) -> Result<Path, BlobError> {
        check_blob_path(path)?;
        let key = if self.prefix.is_empty() {
            path.to_owned()
        } else {
            format!("{}/{path}", self.prefix)
        };
        Path::parse(&key).map_err(|_| BlobError::InvalidPath(path.chars().take(64).collect()))
    }
}

fn unavailable(e: object_store::Error) -> BlobError {
    match e {
        object_store::Error::NotFound { .. } => BlobError::NotFound,
        e => BlobError::Unavailable(e.to_string()),
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    fn kind(&self) -> &'static str {
        "s3"
    }

    async fn put(&self, path: &str, bytes: &[u8]) -> Result<(), BlobError> {
        let key = self.key(path)?;
        self.store
            .put(&key, PutPayload::from(bytes.to_vec()))
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn get(&self, path: &str) -> Result<Vec<u8>, BlobError> {
        let key = self.key(path)?;
        let found = self.store.get(&key).await.map_err(unavailable)?;
        let bytes = found.bytes().await.map_err(unavailable)?;
        Ok(bytes.to_vec())
    }

    async fn delete(&self, path: &str) -> Result<(), BlobError> {
        let key = self.key(path)?;
        match self.store.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn exists(&self, path: &str) -> Result<bool, BlobError> {
        let key = self.key(path)?;
        match self.store.head(&key).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(prefix: &str) -> S3Settings {
        S3Settings {
            bucket: "images".into(),
            prefix: prefix.into(),
            endpoint: "http://127.0.0.1:9".into(),
            region: "us-east-1".into(),
            credentials: Some(S3Credentials {
                access_key_id: "AKIDTEST".into(),
                secret_access_key: "very-secret-value".into(),
                session_token: None,
            }),
        }
    }

    #[test]
    fn keys_sit_under_the_prefix_and_traversal_is_refused() {
        let store = S3BlobStore::new(&settings("/cctv/prod/")).unwrap();
        assert_eq!(store.prefix(), "cctv/prod");
        assert_eq!(
            store.key("events/a.jpg").unwrap().as_ref(),
            "cctv/prod/events/a.jpg"
        );
        let bare = S3BlobStore::new(&settings("")).unwrap();
        assert_eq!(bare.key("events/a.jpg").unwrap().as_ref(), "events/a.jpg");
        for bad in ["../x", "a/../b", "/abs", "a//b", ""] {
            assert!(
                matches!(bare.key(bad), Err(BlobError::InvalidPath(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_missing_bucket_or_a_bad_prefix_is_refused() {
        let mut s = settings("");
        s.bucket = " ".into();
        assert!(S3BlobStore::new(&s).is_err());
        assert!(S3BlobStore::new(&settings("a/../b")).is_err());
    }

    #[test]
    fn debug_names_the_bucket_and_nothing_secret() {
        let shown = format!("{:?}", S3BlobStore::new(&settings("p")).unwrap());
        assert!(
            shown.contains("images") && shown.contains("\"p\""),
            "{shown}"
        );
        assert!(!shown.contains("very-secret-value"), "{shown}");
        let creds = format!("{:?}", settings("p").credentials);
        assert!(creds.contains("AKIDTEST") && !creds.contains("very-secret-value"));
    }
}
