//! How far history was imported from a source: the highest source id per entity, kept in
//! our database (`import_marks`) and moved after every committed batch.

use cctv_core::records::ColumnType::{Int, Text};
use cctv_core::records::{Filter, Record, Table, WriteOp, col};
use serde_json::Value;

use super::Import;

pub static IMPORT_MARKS: Table = Table {
    name: "import_marks",
    columns: &[
        col("source", Text),
        col("entity", Text),
        col("last_id", Int),
    ],
    search: &[],
};

impl Import<'_> {
    fn mark_key(&self, entity: &str) -> Vec<Filter> {
        vec![
            Filter::Eq("source", Value::from(self.source_name.clone())),
            Filter::Eq("entity", Value::from(entity)),
        ]
    }

    /// The highest source id of `entity` imported so far (0: none).
    pub(super) async fn mark(&self, entity: &str) -> anyhow::Result<i64> {
        let row = self
            .storage
            .find_record(&IMPORT_MARKS, &self.mark_key(entity))
            .await?;
        Ok(row
            .and_then(|r| r.get("last_id").and_then(Value::as_i64))
            .unwrap_or(0))
    }

    pub(super) async fn set_mark(&self, entity: &str, last_id: i64) -> anyhow::Result<()> {
        let mut changes = Record::new();
        changes.insert("last_id".into(), Value::from(last_id));
        let updated = self
            .storage
            .apply(&[WriteOp::Update {
                table: &IMPORT_MARKS,
                changes: changes.clone(),
                filters: self.mark_key(entity),
            }])
            .await?;
        if updated.first().copied().unwrap_or(0) == 0 {
            changes.insert("source".into(), Value::from(self.source_name.clone()));
            changes.insert("entity".into(), Value::from(entity));
            self.storage
                .apply(&[WriteOp::Insert {
                    table: &IMPORT_MARKS,
                    record: changes,
                    link: None,
                }])
                .await?;
        }
        Ok(())
    }
}
