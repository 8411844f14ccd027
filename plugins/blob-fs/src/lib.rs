//! # cctv-blob-fs
//!
//! Blob store on the local filesystem, under one root directory (`<data dir>/storage`).
//! Writes go to a temporary file in the same directory, are synced, then renamed into
//! place, so a reader never sees a partial file and a crash leaves no half-written blob.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use cctv_core::blob::{BlobError, BlobStore, check_blob_path};
use tokio::io::AsyncWriteExt;

#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    /// Uses (and creates) `root`.
    pub fn new(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn resolve(&self, path: &str) -> Result<PathBuf, BlobError> {
        check_blob_path(path)?;
        Ok(self.root.join(path))
    }
}

fn io(e: std::io::Error) -> BlobError {
    if e.kind() == std::io::ErrorKind::NotFound {
        BlobError::NotFound
    } else {
        BlobError::Unavailable(e.to_string())
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    fn kind(&self) -> &'static str {
        "fs"
    }

    async fn put(&self, path: &str, bytes: &[u8]) -> Result<(), BlobError> {
        let target = self.resolve(path)?;
        let dir = target
            .parent()
            .ok_or_else(|| BlobError::InvalidPath(path.into()))?;
        tokio::fs::create_dir_all(dir).await.map_err(io)?;
        let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
        let result = async {
            let mut file = tokio::fs::File::create(&tmp).await?;
            file.write_all(bytes).await?;
            file.sync_all().await?;
            drop(file);
            tokio::fs::rename(&tmp, &target).await
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result.map_err(io)
    }

    async fn get(&self, path: &str) -> Result<Vec<u8>, BlobError> {
        tokio::fs::read(self.resolve(path)?).await.map_err(io)
    }

    async fn delete(&self, path: &str) -> Result<(), BlobError> {
        match tokio::fs::remove_file(self.resolve(path)?).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(e)),
        }
    }

    async fn exists(&self, path: &str) -> Result<bool, BlobError> {
        tokio::fs::try_exists(self.resolve(path)?).await.map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blobs_round_trip_and_traversal_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::new(dir.path().join("storage")).unwrap();
        store
            .put("events/2026/11/28/a.jpg", b"bytes")
            .await
            .unwrap();
        assert_eq!(
            store.get("events/2026/11/28/a.jpg").await.unwrap(),
            b"bytes"
        );
        assert!(store.exists("events/2026/11/28/a.jpg").await.unwrap());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("storage/events/2026/11/28"))
            .unwrap()
            .collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
        store.delete("events/2026/11/28/a.jpg").await.unwrap();
        assert!(matches!(
            store.get("events/2026/11/28/a.jpg").await,
            Err(BlobError::NotFound)
        ));
        assert!(matches!(
            store.put("../escape.jpg", b"x").await,
            Err(BlobError::InvalidPath(_))
        ));
        assert!(!dir.path().join("escape.jpg").exists());
    }
}
