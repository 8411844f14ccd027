//! A column set to null and then to a value runs the same statement text twice with
//! different values: the null must be bound with the column's type, or a connection that
//! prepared the statement for the null refuses the value ("incorrect binary data format").
//! Runs when `CCTV_TEST_PG_URL` is set.

use cctv_core::records::tables::STORAGE_FILES;
use cctv_core::records::{Record, RecordStore, WriteOp, by_id};
use cctv_storage_postgres::{PgSettings, PgStore};
use serde_json::{Value, json};

#[tokio::test]
async fn a_text_column_alternates_between_null_and_text_on_one_connection() {
    let Ok(url) = std::env::var("CCTV_TEST_PG_URL") else {
        eprintln!("CCTV_TEST_PG_URL is not set: skipping");
        return;
    };
    let mut settings = PgSettings::new(url);
    settings.schema = Some(format!("t_{}", uuid::Uuid::new_v4().simple()));
    // One connection: every statement is prepared once and reused.
    settings.max_connections = 1;
    let store = PgStore::open(&settings).await.unwrap();
    let insert = WriteOp::Insert {
        table: &STORAGE_FILES,
        record: Record::from_iter([
            ("file_path".to_owned(), json!("events/a.jpg")),
            ("file_type".to_owned(), json!("image/jpeg")),
            ("file_size".to_owned(), json!(1)),
            ("width".to_owned(), Value::Null),
        ]),
        link: None,
    };
    let id = store.apply(&[insert]).await.unwrap()[0];
    for (related, width) in [
        (Value::Null, Value::Null),
        (json!("event_logs"), json!(640)),
        (Value::Null, json!(320)),
        (json!("cctv_streams"), Value::Null),
    ] {
        let update = WriteOp::Update {
            table: &STORAGE_FILES,
            changes: Record::from_iter([
                ("related_table".to_owned(), related.clone()),
                ("width".to_owned(), width.clone()),
            ]),
            filters: by_id(id),
        };
        store.apply(&[update]).await.unwrap();
        let row = store
            .find_record(&STORAGE_FILES, &by_id(id))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((&row["related_table"], &row["width"]), (&related, &width));
    }
}
