//! Company groups (provinces). Admins manage them; operators see the groups of their
//! branches. A group cannot be deactivated or deleted while it has active branches.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::form::Form;
use super::{ManageError, Manager, Plan, ResourceLogic, enum_filter, id_of, str_of, update_op};
use crate::access::Principal;
use cctv_core::records::tables::{BRANCHES, GROUPS};
use cctv_core::records::{Filter, Order, Record, Table, WriteOp};
use cctv_core::validation::ValidationErrors;

pub(crate) struct Groups;

pub(super) const FIELDS: &[&str] = &[
    "province_code",
    "province_name",
    "group_name",
    "address",
    "phone",
    "email",
    "status",
];
pub(crate) const STATUSES: &[&str] = &["active", "inactive"];

fn validate(body: &Map<String, Value>, partial: bool) -> Form<'_> {
    let mut f = Form::new(body, partial);
    f.only(FIELDS);
    f.code("province_code", true, 10);
    f.text("province_name", true, 100);
    f.text("group_name", true, 150);
    f.text("address", false, 1000);
    f.text("phone", false, 20);
    f.email("email", false);
    f.one_of("status", false, STATUSES);
    f
}

#[async_trait]
impl ResourceLogic for Groups {
    fn table(&self) -> &'static Table {
        &GROUPS
    }
    fn noun(&self) -> &'static str {
        "Company group"
    }
    fn scope(&self, who: &Principal) -> Vec<Filter> {
        match who.branch_filter() {
            Some(_) => vec![Filter::In(
                "id",
                who.groups.iter().map(|g| Value::from(*g)).collect(),
            )],
            None => Vec::new(),
        }
    }
    fn list_filters(
        &self,
        params: &BTreeMap<String, String>,
        filters: &mut Vec<Filter>,
        errors: &mut ValidationErrors,
    ) {
        enum_filter(params, "status", "status", STATUSES, filters, errors);
    }
    fn order(&self) -> Order {
        Order::asc("province_code")
    }

    async fn plan_create(
        &self,
        m: &Manager,
        _who: &Principal,
        body: &Map<String, Value>,
    ) -> Result<Plan, ManageError> {
        let mut f = validate(body, false);
        let code = str_of(&f.record, "province_code").map(str::to_owned);
        m.check_unique(
            &mut f.errors,
            &GROUPS,
            "province_code",
            "province_code",
            code.as_deref(),
            None,
        )
        .await?;
        let mut record = f.finish()?;
        record.entry("status").or_insert(Value::from("active"));
        Ok(Plan::new(vec![super::insert_op(&GROUPS, record)]))
    }

    async fn plan_update(
        &self,
        m: &Manager,
        _who: &Principal,
        existing: &Record,
        body: &Map<String, Value>,
    ) -> Result<Plan, ManageError> {
        let id = id_of(existing);
        let mut f = validate(body, true);
        let code = str_of(&f.record, "province_code").map(str::to_owned);
        m.check_unique(
            &mut f.errors,
            &GROUPS,
            "province_code",
            "province_code",
            code.as_deref(),
            Some(id),
        )
        .await?;
        let changes = f.finish()?;
        let mut ops = vec![update_op(&GROUPS, id, changes.clone())];
        if str_of(&changes, "status") == Some("inactive") {
            ops.push(guard_no_active_branches(id));
        }
        Ok(Plan::new(ops))
    }

    async fn plan_delete(
        &self,
        _m: &Manager,
        _who: &Principal,
        existing: &Record,
    ) -> Result<Plan, ManageError> {
        // Deleting a group would cascade to its branches and their history: deactivate.
        let id = id_of(existing);
        let mut changes = Record::new();
        changes.insert("status".into(), Value::from("inactive"));
        Ok(Plan::new(vec![
            update_op(&GROUPS, id, changes),
            guard_no_active_branches(id),
        ]))
    }
}

/// Fails the transaction when the group still has an active branch.
fn guard_no_active_branches(group_id: i64) -> WriteOp {
    WriteOp::Ensure {
        table: &BRANCHES,
        filters: vec![
            Filter::Eq("group_id", Value::from(group_id)),
            Filter::Eq("status", Value::from("active")),
        ],
        min: 0,
        max: 0,
        reason: "The group still has active branches; deactivate them first.",
    }
}
