//! The tokio runtime that detection processing runs on: one thread of its own.
//!
//! Processing awaits the database once per statement: a round trip to sqlx's SQLite
//! worker thread, or to PostgreSQL. On the server's runtime each of those wake-ups comes
//! from outside its worker threads and waits behind the HTTP connections' tasks, so under
//! load a batch spent most of its time waiting to be polled while the SQLite writer sat
//! idle between statements. On a thread of its own, a wake-up is polled at once; the
//! thread itself does little (planning and binding), the database does the work.
//!
//! The thread is shared by every pipeline of the process and lives as long as the
//! process: database connections opened from it register with its I/O driver, and they
//! must stay usable after a pipeline stops (the store outlives the pipeline).

use std::sync::Mutex;

use tokio::runtime::Handle;

/// The processing runtime's handle, started on first use.
pub(crate) fn handle() -> std::io::Result<Handle> {
    static HANDLE: Mutex<Option<Handle>> = Mutex::new(None);
    let mut slot = HANDLE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(handle) = slot.as_ref() {
        return Ok(handle.clone());
    }
    // The runtime is built and dropped on its own thread: a runtime may not be dropped
    // inside another one, which is where pipelines start.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("cctv-processing".into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => {
                    let _ = tx.send(Ok(runtime.handle().clone()));
                    runtime.block_on(std::future::pending::<()>());
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        })?;
    let handle = rx
        .recv()
        .map_err(|_| std::io::Error::other("the processing thread ended before it started"))??;
    *slot = Some(handle.clone());
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tasks_run_on_the_processing_thread_and_every_caller_shares_it() {
        let first = handle().unwrap();
        let second = handle().unwrap();
        let name = first
            .spawn(async { std::thread::current().name().map(str::to_owned) })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("cctv-processing"));
        let again = second
            .spawn(async { std::thread::current().id() })
            .await
            .unwrap();
        let once = first
            .spawn(async { std::thread::current().id() })
            .await
            .unwrap();
        assert_eq!(again, once);
    }
}
