//! The admin parts ride on a `Core` as one extension: what a core built with them reads
//! back, what a core built without them answers, and that nothing of one core leaks into
//! another through the fallback.

use std::sync::Arc;

use async_trait::async_trait;
use cctv_admin::notify::{Delivery, Notifier, NotifyError, OutboundMessage};
use cctv_admin::{AdminBuilder, AdminCore, AdminSettings};
use cctv_core::Core;
use cctv_core::jobs::Queue;
use cctv_core::storage::{Storage, StorageError};
use cctv_core::workers::{WorkerState, WorkerStatus};
use cctv_storage_memory::MemoryStore;

#[derive(Debug)]
struct Silent;

#[async_trait]
impl Notifier for Silent {
    fn kind(&self) -> &'static str {
        "silent"
    }

    async fn send(&self, _message: &OutboundMessage) -> Result<Delivery, NotifyError> {
        Err(NotifyError::rejected(None, "never sends"))
    }
}

#[derive(Debug)]
struct OneWorker(&'static str);

impl WorkerStatus for OneWorker {
    fn states(&self) -> Vec<WorkerState> {
        vec![WorkerState {
            node: self.0.into(),
            queue: Queue::Detections,
            workers: 1,
            busy: 0,
            processed: 0,
            failed_attempts: 0,
            restarts: 0,
        }]
    }
}

fn memory() -> Arc<dyn Storage> {
    Arc::new(MemoryStore::new())
}

#[tokio::test]
async fn the_builder_s_admin_parts_are_read_back_from_the_core() {
    let settings = AdminSettings {
        queue_alert_threshold: 7,
        failed_alert_threshold: 9,
        schedule: Vec::new(),
    };
    let core = Core::builder()
        .storage(memory())
        .notifier(Arc::new(Silent))
        .admin_settings(settings)
        .build()
        .await
        .unwrap();
    assert_eq!(core.notifiers().len(), 1);
    assert!(core.notifier("silent").is_some() && core.notifier("whatsapp").is_none());
    let read = core.admin_settings();
    assert_eq!(
        (
            read.queue_alert_threshold,
            read.failed_alert_threshold,
            read.schedule.len()
        ),
        (7, 9, 0)
    );
    // Given with `storage` and no `capabilities`: each capability is missing by name.
    assert!(matches!(
        core.report_store().map(|_| ()),
        Err(StorageError::Unsupported("reports"))
    ));
}

#[tokio::test]
async fn a_core_without_admin_parts_answers_with_nothing_rather_than_failing() {
    let core = Core::builder().storage(memory()).build().await.unwrap();
    assert!(core.notifiers().is_empty());
    assert!(core.webhook_transport().is_none());
    assert!(core.capabilities().names().is_empty());
    assert!(matches!(
        core.queue_admin().map(|_| ()),
        Err(StorageError::Unsupported("queue administration"))
    ));
    assert_eq!(
        core.admin_settings().queue_alert_threshold,
        AdminSettings::default().queue_alert_threshold
    );
    // A per-process key: what it seals it opens again.
    let sealed = core.secrets().encrypt("rtsp://user:pw@cam");
    assert_eq!(
        core.secrets().decrypt(&sealed).unwrap(),
        "rtsp://user:pw@cam"
    );
}

#[tokio::test]
async fn two_cores_without_admin_parts_keep_their_workers_apart() {
    let first = Core::builder().storage(memory()).build().await.unwrap();
    let second = Core::builder().storage(memory()).build().await.unwrap();
    first.set_worker_status(Arc::new(OneWorker("first")));
    assert_eq!(first.worker_states()[0].node, "first");
    assert!(second.worker_states().is_empty());
    second.set_worker_status(Arc::new(OneWorker("second")));
    assert_eq!(first.worker_states()[0].node, "first");
    assert_eq!(second.worker_states()[0].node, "second");
}
