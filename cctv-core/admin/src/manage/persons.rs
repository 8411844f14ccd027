//! Person-day edits (`PATCH /api/v1/re-id-masters/{re_id}`): a display name and whether
//! the person is tracked that day. Admins edit any person; operators only persons seen
//! in one of their branches that day.

use serde_json::{Map, Value};

use super::form::Form;
use super::{Caller, ManageError, Manager, audit_op, forbidden, id_of, update_op};
use crate::access::Role;
use crate::manage::tables::{PERSON_BRANCH_DAYS, PERSON_DAYS};
use cctv_core::records::Filter;

impl Manager {
    pub async fn patch_person(
        &self,
        caller: Caller<'_>,
        re_id: &str,
        body: &Value,
    ) -> Result<Value, ManageError> {
        if caller.who.role == Role::Viewer {
            return Err(forbidden());
        }
        let body: &Map<String, Value> = super::object(body)?;
        let mut f = Form::new(body, true);
        f.only(&["date", "person_name", "status"]);
        f.text("person_name", false, 150);
        f.one_of("status", false, &["active", "inactive"]);
        let date = match body.get("date") {
            None => self.core.today(),
            Some(v) => match v.as_str().and_then(|s| s.parse::<jiff::civil::Date>().ok()) {
                Some(d) => d,
                None => {
                    f.errors
                        .add("date", "The date must be a date (YYYY-MM-DD).");
                    self.core.today()
                }
            },
        };
        f.record.remove("date");
        if f.record.is_empty() && f.errors.is_empty() {
            f.errors.add(
                "person_name",
                "Nothing to change: give person_name or status.",
            );
        }
        let changes = f.finish()?;
        let key = vec![
            Filter::Eq("re_id", Value::from(re_id)),
            Filter::Eq("detection_date", Value::from(date.to_string())),
        ];
        let storage = self.core.storage();
        let before = storage
            .find_record(&PERSON_DAYS, &key)
            .await?
            .ok_or_else(|| ManageError::NotFound("Person not found for that date".into()))?;
        if let Some(branches) = caller.who.branch_filter() {
            let mut seen = key.clone();
            seen.push(Filter::In(
                "branch_id",
                branches.iter().map(|b| Value::from(*b)).collect(),
            ));
            if storage.count_records(&PERSON_BRANCH_DAYS, &seen).await? == 0 {
                return Err(forbidden());
            }
        }
        let id = id_of(&before);
        let mut after = before.clone();
        after.extend(changes.clone());
        let ops = vec![
            update_op(&PERSON_DAYS, id, changes),
            audit_op(
                caller,
                "update",
                &PERSON_DAYS,
                Some(id),
                Some(&before),
                Some(&after),
            ),
        ];
        self.apply(&ops).await?;
        let row = storage
            .find_record(&PERSON_DAYS, &key)
            .await?
            .unwrap_or(after);
        Ok(Value::Object(row))
    }
}
