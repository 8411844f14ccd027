//! The batch use case against an in-memory sink that keeps keys the way storage does.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::json;

use super::*;
use crate::credential::{CredentialStatus, Permissions};
use crate::estate::{BranchInfo, DeviceInfo, RecordStatus};
use crate::ingest::IngestError;

/// A stored idempotency key: `(credential, key)` → (job, request fingerprint).
type Keys = HashMap<(i64, String), (JobId, Option<String>)>;

/// Stores jobs; a `(credential, key)` seen before answers with the stored job (a conflict
/// when the fingerprint differs), as the storage backends do.
#[derive(Debug, Default)]
struct MemorySink {
    jobs: Mutex<Vec<DetectionJob>>,
    keys: Mutex<Keys>,
    fail: bool,
}

#[async_trait]
impl IngestSink for MemorySink {
    async fn submit(&self, job: DetectionJob) -> Result<Submitted, IngestError> {
        if self.fail {
            return Err(IngestError::Unavailable("disk full".into()));
        }
        if let Some(key) = job.dedup_key() {
            let key = (job.credential_id.unwrap_or(0), key);
            let mut keys = self.keys.lock().unwrap();
            if let Some((original, hash)) = keys.get(&key) {
                return Ok(Submitted {
                    job_id: *original,
                    duplicate: true,
                    conflict: hash != &job.request_hash,
                });
            }
            keys.insert(key, (job.job_id, job.request_hash.clone()));
        }
        let job_id = job.job_id;
        self.jobs.lock().unwrap().push(job);
        Ok(Submitted {
            job_id,
            duplicate: false,
            conflict: false,
        })
    }
}

impl MemorySink {
    fn stored(&self) -> Vec<String> {
        self.jobs
            .lock()
            .unwrap()
            .iter()
            .map(|j| j.re_id.clone())
            .collect()
    }
}

/// Branch 1 (CAM_1), branch 2 (CAM_2), branch 3 inactive (CAM_3).
fn estate() -> EstateSnapshot {
    let mut s = EstateSnapshot::default();
    for (id, status) in [
        (1, RecordStatus::Active),
        (2, RecordStatus::Active),
        (3, RecordStatus::Inactive),
    ] {
        s.branches.insert(
            id,
            BranchInfo {
                id,
                group_id: 1,
                branch_code: format!("B{id}"),
                branch_name: format!("Branch {id}"),
                city: "X".into(),
                status,
            },
        );
        let device = format!("CAM_{id}");
        s.devices.insert(
            device.clone(),
            DeviceInfo {
                device_id: device.clone(),
                device_name: device,
                branch_id: id,
                status: RecordStatus::Active,
            },
        );
    }
    s
}

fn credential(branch_id: Option<i64>) -> Credential {
    Credential {
        id: 7,
        name: "edge".into(),
        api_key: "cctv_test".into(),
        secret_hash: [0; 32],
        branch_id,
        device_id: None,
        permissions: Permissions::default(),
        rate_limit: 10_000,
        expires_at: None,
        status: CredentialStatus::Active,
    }
}

async fn run(
    sink: &MemorySink,
    credential: &Credential,
    items: Vec<Value>,
) -> Result<Vec<ItemResult>, BatchError> {
    let rules = DetectionRules::default();
    accept_batch(
        sink,
        credential,
        &estate(),
        (&rules, 5),
        items,
        Timestamp::now(),
    )
    .await
}

fn statuses(results: &[ItemResult]) -> Vec<ItemStatus> {
    results.iter().map(|r| r.status).collect()
}

#[tokio::test]
async fn each_item_is_answered_in_input_order_and_only_admitted_ones_are_stored() {
    let sink = MemorySink::default();
    let items = vec![
        json!({"re_id": "A", "branch_id": 1, "device_id": "CAM_1", "event_id": "e1"}),
        json!({"re_id": "", "branch_id": 1, "device_id": "CAM_1"}),
        json!({"re_id": "C", "branch_id": 1, "device_id": "CAM_404"}),
        json!("not an object"),
        json!({"re_id": "A", "branch_id": 1, "device_id": "CAM_1", "event_id": "e1"}),
    ];
    let results = run(&sink, &credential(None), items).await.unwrap();
    use ItemStatus::*;
    assert_eq!(
        statuses(&results),
        [Accepted, Rejected, Rejected, Rejected, Duplicate]
    );
    assert_eq!(
        results.iter().map(|r| r.index).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );
    let err = |i: usize| results[i].error.as_ref().unwrap();
    assert_eq!(
        (err(1).code, err(1).field.as_str()),
        ("VALIDATION_ERROR", "re_id")
    );
    assert_eq!(err(2).field, "device_id");
    assert_eq!(err(2).message, "Device does not exist");
    assert_eq!(err(3).field, "body");
    assert!(results[1].job_id.is_none(), "a rejected item has no job");
    assert_eq!(
        results[4].job_id, results[0].job_id,
        "a copy within the batch answers with the first item's job"
    );
    assert!(results[0].error.is_none() && results[4].error.is_none());
    assert_eq!(sink.stored(), ["A"]);
}

#[tokio::test]
async fn a_reused_event_id_with_another_body_is_that_items_conflict_naming_the_stored_job() {
    let sink = MemorySink::default();
    let cred = credential(None);
    let first = run(
        &sink,
        &cred,
        vec![json!({"re_id": "A", "branch_id": 1, "device_id": "CAM_1", "event_id": "e1"})],
    )
    .await
    .unwrap();
    let stored = first[0].job_id.unwrap();
    let results = run(
        &sink,
        &cred,
        vec![
            json!({"re_id": "OTHER", "branch_id": 1, "device_id": "CAM_1", "event_id": "e1"}),
            // The same event id from another device is another key.
            json!({"re_id": "B", "branch_id": 2, "device_id": "CAM_2", "event_id": "e1"}),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        statuses(&results),
        [ItemStatus::Rejected, ItemStatus::Accepted]
    );
    let conflict = results[0].error.as_ref().unwrap();
    assert_eq!(conflict.code, "IDEMPOTENCY_CONFLICT");
    assert_eq!(conflict.field, "event_id");
    assert_eq!(conflict.job_id, Some(stored));
    assert!(
        conflict.message.contains(&stored.to_string()),
        "{}",
        conflict.message
    );
    assert_eq!(results[0].job_id, None);
    assert_eq!(sink.stored(), ["A", "B"]);
}

#[tokio::test]
async fn a_retried_batch_stores_nothing_new_and_answers_with_the_original_jobs() {
    let sink = MemorySink::default();
    let cred = credential(None);
    let items: Vec<Value> = (0..3)
        .map(|i| json!({"re_id": format!("P{i}"), "branch_id": 1, "device_id": "CAM_1", "event_id": format!("e{i}")}))
        .collect();
    let first = run(&sink, &cred, items.clone()).await.unwrap();
    let again = run(&sink, &cred, items).await.unwrap();
    assert_eq!(statuses(&first), [ItemStatus::Accepted; 3]);
    assert_eq!(statuses(&again), [ItemStatus::Duplicate; 3]);
    let ids = |r: &[ItemResult]| r.iter().map(|r| r.job_id).collect::<Vec<_>>();
    assert_eq!(ids(&first), ids(&again));
    assert_eq!(sink.stored().len(), 3);
}

#[tokio::test]
async fn scope_is_checked_before_the_estate_for_every_item() {
    let sink = MemorySink::default();
    let results = run(
        &sink,
        &credential(Some(1)),
        vec![
            // Branch 99 does not exist: a key of branch 1 learns only that it may not.
            json!({"re_id": "X", "branch_id": 99, "device_id": "CAM_1"}),
            json!({"re_id": "Y", "branch_id": 2, "device_id": "CAM_2"}),
            json!({"re_id": "Z", "branch_id": 1, "device_id": "CAM_1"}),
        ],
    )
    .await
    .unwrap();
    for r in &results[..2] {
        let e = r.error.as_ref().unwrap();
        assert_eq!(
            (e.code, e.field.as_str()),
            ("FORBIDDEN", "branch_id"),
            "{r:?}"
        );
        assert_eq!(
            e.message,
            "This API credential is not allowed for this branch"
        );
    }
    assert_eq!(results[2].status, ItemStatus::Accepted);
    let inactive = run(
        &sink,
        &credential(None),
        vec![json!({"re_id": "W", "branch_id": 3, "device_id": "CAM_3"})],
    )
    .await
    .unwrap();
    let e = inactive[0].error.as_ref().unwrap();
    assert_eq!(
        (e.code, e.message.as_str()),
        ("VALIDATION_ERROR", "Branch is not active")
    );
    assert_eq!(sink.stored(), ["Z"]);
}

#[tokio::test]
async fn empty_oversized_and_read_only_batches_are_refused_whole() {
    let sink = MemorySink::default();
    let item = json!({"re_id": "A", "branch_id": 1, "device_id": "CAM_1"});
    assert_eq!(
        run(&sink, &credential(None), vec![]).await,
        Err(BatchError::Empty { limit: 5 })
    );
    assert_eq!(
        run(&sink, &credential(None), vec![item.clone(); 6]).await,
        Err(BatchError::TooLarge { limit: 5, items: 6 })
    );
    assert_eq!(
        run(&sink, &credential(None), vec![item.clone(); 5])
            .await
            .unwrap()
            .len(),
        5
    );
    let mut read_only = credential(None);
    read_only.permissions.write = false;
    assert!(matches!(
        run(&sink, &read_only, vec![item]).await,
        Err(BatchError::Forbidden(_))
    ));
    assert_eq!(
        sink.stored().len(),
        5,
        "only the batch within the limit was stored"
    );
}

#[tokio::test]
async fn a_batch_the_sink_cannot_store_is_unavailable_and_one_of_only_refused_items_never_reaches_it()
 {
    let failing = MemorySink {
        fail: true,
        ..MemorySink::default()
    };
    let good = json!({"re_id": "A", "branch_id": 1, "device_id": "CAM_1"});
    assert!(matches!(
        run(&failing, &credential(None), vec![good]).await,
        Err(BatchError::Unavailable(_))
    ));
    let all_bad = run(
        &failing,
        &credential(None),
        vec![json!({"re_id": "A"}), json!(1)],
    )
    .await
    .unwrap();
    assert_eq!(statuses(&all_bad), [ItemStatus::Rejected; 2]);
}

#[test]
fn results_serialise_as_the_api_documents_them() {
    let job = JobId::new();
    let accepted = ItemResult {
        index: 0,
        status: ItemStatus::Accepted,
        job_id: Some(job),
        error: None,
    };
    assert_eq!(
        serde_json::to_value(&accepted).unwrap(),
        json!({"index": 0, "status": "accepted", "job_id": job.to_string(), "error": null})
    );
    let rejected = ItemResult {
        index: 3,
        status: ItemStatus::Rejected,
        job_id: None,
        error: Some(ItemError {
            code: "VALIDATION_ERROR",
            field: "re_id".into(),
            message: "Re-identification ID is required".into(),
            job_id: None,
        }),
    };
    assert_eq!(
        serde_json::to_value(&rejected).unwrap(),
        json!({"index": 3, "status": "rejected", "job_id": null,
               "error": {"code": "VALIDATION_ERROR", "field": "re_id", "message": "Re-identification ID is required"}})
    );
}
