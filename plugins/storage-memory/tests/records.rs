//! The generic record store: filters, order and pages, `link`, `Ensure` and the schema
//! rules (uniqueness, foreign keys, cascades), and the change stamps.

use cctv_core::estate::{EstateWrites, NewBranch, NewGroup, RecordStatus};
use cctv_core::records::tables::{BRANCHES, DEVICES, GROUPS};
use cctv_core::records::{ENSURE_PREFIX, Filter, ListQuery, Order, Record, RecordStore, WriteOp};
use cctv_core::storage::{ChangeTopic, EstateStore, StorageError};
use cctv_storage_memory::MemoryStore;
use serde_json::{Value, json};

fn rec(v: Value) -> Record {
    match v {
        Value::Object(m) => m,
        _ => Record::new(),
    }
}

fn group(code: &str) -> WriteOp {
    WriteOp::Insert {
        table: &GROUPS,
        record: rec(
            json!({"province_code": code, "province_name": code, "group_name": format!("{code} Group")}),
        ),
        link: None,
    }
}

fn branch(code: &str, city: &str, link: Option<usize>) -> WriteOp {
    let mut record = rec(json!({"branch_code": code, "branch_name": code, "city": city}));
    if link.is_none() {
        record.insert("group_id".into(), json!(1));
    }
    WriteOp::Insert {
        table: &BRANCHES,
        record,
        link: link.map(|i| ("group_id", i)),
    }
}

#[tokio::test]
async fn link_defaults_filters_order_and_pages() {
    let store = MemoryStore::new();
    let ids = store
        .apply(&[
            group("JKT"),
            branch("B1", "Jakarta", Some(0)),
            branch("B2", "Bandung", Some(0)),
            branch("B3", "jakarta utara", Some(0)),
        ])
        .await
        .unwrap();
    assert_eq!(ids, vec![1, 1, 2, 3]);
    let b1 = store
        .find_record(&BRANCHES, &[Filter::Eq("branch_code", json!("B1"))])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (b1["group_id"].clone(), b1["status"].clone()),
        (json!(1), json!("active"))
    );
    assert!(b1["created_at"].is_string() && b1["address"].is_null());

    let search = vec![Filter::Search("JAKARTA".into())];
    assert_eq!(store.count_records(&BRANCHES, &search).await.unwrap(), 2);
    let count = |filters: Vec<Filter>| {
        let store = &store;
        async move { store.count_records(&BRANCHES, &filters).await.unwrap() }
    };
    assert_eq!(count(vec![Filter::Ne("city", json!("Bandung"))]).await, 2);
    assert_eq!(
        count(vec![Filter::In("id", vec![json!(1), json!(3), json!(9)])]).await,
        2
    );
    assert_eq!(count(vec![Filter::In("id", vec![])]).await, 0);
    assert_eq!(
        count(vec![Filter::Ge("id", json!(2)), Filter::Lt("id", json!(3))]).await,
        1
    );
    assert_eq!(count(vec![Filter::IsNull("address")]).await, 3);
    assert_eq!(
        count(vec![Filter::Eq("address", Value::Null)]).await,
        0,
        "= NULL is never true"
    );
    assert!(matches!(
        store
            .count_records(&BRANCHES, &[Filter::Eq("nope", json!(1))])
            .await,
        Err(StorageError::Rejected(_))
    ));

    let query = ListQuery {
        filters: vec![],
        order: Order::asc("city"),
        page: 2,
        per_page: 2,
    };
    let (rows, total) = store.list_records(&BRANCHES, &query).await.unwrap();
    assert_eq!((rows.len(), total), (1, 3));
    assert_eq!(rows[0]["city"], "jakarta utara");
    let newest = ListQuery {
        order: Order::NEWEST_FIRST,
        page: 1,
        ..query
    };
    let (rows, _) = store.list_records(&BRANCHES, &newest).await.unwrap();
    assert_eq!(rows[0]["id"], 3);
    let cities = store
        .distinct_values(&BRANCHES, "group_id", &[], 10)
        .await
        .unwrap();
    assert_eq!(cities, vec![json!(1)]);
}

#[tokio::test]
async fn a_failed_ensure_rolls_the_whole_list_back() {
    let store = MemoryStore::new();
    store.apply(&[group("JKT")]).await.unwrap();
    let stamp = store.change_stamp(ChangeTopic::Estate).await.unwrap();
    let err = store
        .apply(&[
            branch("B1", "Jakarta", None),
            WriteOp::Delete {
                table: &GROUPS,
                filters: vec![],
            },
            WriteOp::Ensure {
                table: &GROUPS,
                filters: vec![],
                min: 1,
                max: u64::MAX,
                reason: "a group remains",
            },
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StorageError::Rejected(m) if *m == format!("{ENSURE_PREFIX}a group remains")),
        "{err:?}"
    );
    assert_eq!(store.count_records(&GROUPS, &[]).await.unwrap(), 1);
    assert_eq!(store.count_records(&BRANCHES, &[]).await.unwrap(), 0);
    assert_eq!(
        store.change_stamp(ChangeTopic::Estate).await.unwrap(),
        stamp
    );
}

#[tokio::test]
async fn uniques_foreign_keys_and_cascades_follow_the_schema() {
    let store = MemoryStore::new();
    let g = store
        .create_group(&NewGroup {
            province_code: "JKT".into(),
            province_name: "DKI Jakarta".into(),
            group_name: "Jakarta".into(),
            address: None,
            phone: None,
            email: None,
            status: RecordStatus::Active,
        })
        .await
        .unwrap();
    let new_branch = |group_id| NewBranch {
        group_id,
        branch_code: "B1".into(),
        branch_name: "One".into(),
        city: "Jakarta".into(),
        address: None,
        latitude: None,
        longitude: None,
        phone: None,
        email: None,
        status: RecordStatus::Active,
    };
    assert!(matches!(
        store.create_branch(&new_branch(99)).await,
        Err(StorageError::Rejected(_))
    ));
    store.create_branch(&new_branch(g.id)).await.unwrap();
    assert!(matches!(
        store.create_branch(&new_branch(g.id)).await,
        Err(StorageError::Conflict(_))
    ));
    store
        .apply(&[WriteOp::Insert {
            table: &DEVICES,
            record: rec(json!({"device_id": "CAM", "device_name": "Cam", "branch_id": 1})),
            link: None,
        }])
        .await
        .unwrap();
    assert_eq!(store.list_devices().await.unwrap().len(), 1);
    let gone = store
        .apply(&[WriteOp::Delete {
            table: &GROUPS,
            filters: vec![],
        }])
        .await
        .unwrap();
    assert_eq!(gone, vec![1]);
    assert!(store.list_branches().await.unwrap().is_empty(), "cascade");
    assert!(
        store.list_devices().await.unwrap().is_empty(),
        "cascade of the cascade"
    );
}
