//! Makes the main file's processing commits durable before their intake rows go.
//!
//! A processing commit does not sync the main file (`synchronous = NORMAL`: a power cut
//! may undo the last moments of processing, and those jobs run again from the intake).
//! That holds only while their intake rows are still there. The delete of those rows is
//! not synced either, but the intake's next accept commit syncs the intake file, delete
//! included, usually within milliseconds, while the main file's WAL may wait for its next
//! checkpoint. A power cut in between would lose accepted detections. So, when commits
//! that back a 202 are synced, the main file's WAL is synced before the rows go. A frame
//! no longer in the WAL was copied into the main file by a checkpoint, which synced it
//! before the WAL was reused. One sync covers every commit made before it started, so
//! removals waiting together share it.

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug)]
pub(crate) struct WalSync {
    /// The main file's WAL (`<file>-wal`).
    path: PathBuf,
    /// Commits counted so far (processing, and spills to the main queue).
    committed: AtomicU64,
    /// How many of them the last completed sync covered.
    synced: tokio::sync::Mutex<u64>,
}

impl WalSync {
    pub(crate) fn new(main_file: &std::path::Path) -> Self {
        let mut path = main_file.as_os_str().to_owned();
        path.push("-wal");
        Self {
            path: path.into(),
            committed: AtomicU64::new(0),
            synced: tokio::sync::Mutex::new(0),
        }
    }

    /// Counts a commit that has returned; its number, for [`Self::sync_through`].
    pub(crate) fn committed(&self) -> u64 {
        self.committed.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Returns once commit `n` is on disk.
    pub(crate) async fn sync_through(&self, n: u64) -> io::Result<()> {
        let mut synced = self.synced.lock().await;
        if *synced >= n {
            return Ok(());
        }
        // Every commit counted by now wrote its frames before this sync starts.
        let covers = self.committed.load(Ordering::SeqCst);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || File::open(path)?.sync_data())
            .await
            .map_err(io::Error::other)??;
        *synced = covers;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::WalSync;

    /// The WAL is found next to the main file and synced; a sync covers every commit
    /// counted before it, so a later waiter for an earlier commit does not sync again.
    #[tokio::test]
    async fn one_sync_covers_the_commits_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("cctv.db");
        let wal = WalSync::new(&main);
        assert!(
            wal.sync_through(wal.committed()).await.is_err(),
            "no WAL yet"
        );
        std::fs::write(dir.path().join("cctv.db-wal"), b"frames").unwrap();
        let (first, second, third) = (wal.committed(), wal.committed(), wal.committed());
        wal.sync_through(second).await.unwrap();
        std::fs::remove_file(dir.path().join("cctv.db-wal")).unwrap();
        // Covered by the sync for `second`, which started after `third` was counted.
        wal.sync_through(first).await.unwrap();
        wal.sync_through(third).await.unwrap();
        let fourth = wal.committed();
        assert!(
            wal.sync_through(fourth).await.is_err(),
            "a later commit syncs"
        );
    }
}
