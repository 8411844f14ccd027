//! The image store a node uses: a local directory or an S3-compatible bucket.

use std::sync::Arc;

use anyhow::Context;
use cctv_blob_fs::FsBlobStore;
use cctv_blob_s3::{S3BlobStore, S3Settings};
use cctv_core::blob::BlobStore;

use crate::settings::Settings;

/// Opens the configured store. A bucket is checked with one small write, read and delete,
/// so a wrong bucket, endpoint or credential stops the start with the store's own answer
/// instead of failing every image upload later.
pub async fn open(settings: &Settings) -> anyhow::Result<Arc<dyn BlobStore>> {
    match settings.storage.backend.as_str() {
        "s3" => {
            let s3 = &settings.storage.s3;
            let store = S3BlobStore::new(&S3Settings {
                bucket: s3.bucket.clone(),
                prefix: s3.prefix.clone(),
                endpoint: s3.endpoint.clone(),
                region: s3.region.clone(),
                credentials: None,
            })
            .context("configuring the S3 image store")?;
            let probe = uuid::Uuid::new_v4().simple().to_string();
            store.probe(&probe).await.with_context(|| {
                format!(
                    "the S3 image store (bucket {:?}, prefix {:?}) cannot be written and read \
                     back: check storage.s3 and the AWS_* credentials in the environment",
                    store.bucket(),
                    store.prefix()
                )
            })?;
            Ok(Arc::new(store))
        }
        _ => Ok(Arc::new(
            FsBlobStore::new(settings.storage_dir()).context("creating the storage directory")?,
        )),
    }
}
