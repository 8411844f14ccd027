//! The tokio runtime that detection processing runs on: two threads of its own.
//!
//! Processing awaits the database once per statement: a round trip to sqlx's SQLite
//! worker thread, or to PostgreSQL. On the server's runtime each of those wake-ups comes
//! from outside its worker threads and waits behind the HTTP connections' tasks, so under
//! load a batch spent much of its time waiting to be polled while the SQLite writer sat
//! idle between statements. On threads of their own, a wake-up is polled at once; they do
//! little themselves (planning and binding), the database does the work.
//!
//! Two threads, not one: sqlx hands a pool connection back through a task spawned where it
//! was dropped, so while one thread is busy (a large batch's plan, or a test's hook that
//! blocks) the other still returns the connections that other callers wait for.
//!
//! The runtime is shared by every pipeline of the process and lives as long as the
//! process: database connections opened from it register with its I/O driver, and they
//! must stay usable after a pipeline stops (the store outlives the pipeline).

use std::sync::Mutex;

use tokio::runtime::{Handle, Runtime};

/// The processing runtime's handle, started on first use.
pub(crate) fn handle() -> std::io::Result<Handle> {
    static RUNTIME: Mutex<Option<Runtime>> = Mutex::new(None);
    let mut slot = RUNTIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(runtime) = slot.as_ref() {
        return Ok(runtime.handle().clone());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("cctv-processing")
        .enable_all()
        .build()?;
    let handle = runtime.handle().clone();
    // Kept for the life of the process (a static is never dropped).
    *slot = Some(runtime);
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tasks_run_on_the_processing_threads_whoever_asks() {
        for handle in [handle().unwrap(), handle().unwrap()] {
            let name = handle
                .spawn(async { std::thread::current().name().map(str::to_owned) })
                .await
                .unwrap();
            assert_eq!(name.as_deref(), Some("cctv-processing"));
        }
    }

    /// One thread blocked (as by a large batch's plan) leaves the other serving tasks,
    /// such as the return of a pool connection.
    #[tokio::test]
    async fn a_blocked_thread_leaves_the_other_running() {
        let runtime = handle().unwrap();
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let blocker = runtime.spawn(async move {
            let _ = blocked.recv_timeout(std::time::Duration::from_secs(10));
        });
        let other = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            runtime.spawn(async { 42 }),
        )
        .await;
        release.send(()).unwrap();
        blocker.await.unwrap();
        assert_eq!(other.unwrap().unwrap(), 42);
    }
}
