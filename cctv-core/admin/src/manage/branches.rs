//! Company branches. Admins manage them; operators see their own. A branch cannot be
//! deactivated or deleted while it has active devices, and must belong to an existing,
//! active group.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::form::Form;
use super::groups::STATUSES;
use super::{
    ManageError, Manager, Plan, ResourceLogic, branch_scope, enum_filter, id_of, insert_op,
    int_filter, str_of, update_op,
};
use crate::access::Principal;
use cctv_core::records::tables::{BRANCHES, DEVICES, GROUPS};
use cctv_core::records::{Filter, Order, Record, Table, WriteOp, by_id};
use cctv_core::validation::ValidationErrors;

pub(crate) struct Branches;

pub(super) const FIELDS: &[&str] = &[
    "group_id",
    "branch_code",
    "branch_name",
    "city",
    "address",
    "latitude",
    "longitude",
    "phone",
    "email",
    "status",
];

async fn validate<'a>(
    m: &Manager,
    body: &'a Map<String, Value>,
    existing_id: Option<i64>,
) -> Result<Form<'a>, ManageError> {
    let mut f = Form::new(body, existing_id.is_some());
    f.only(FIELDS);
    let group = f.int("group_id", true, 1, i64::MAX);
    let code = f.code("branch_code", true, 50);
    f.text("branch_name", true, 150);
    f.text("city", true, 100);
    f.text("address", false, 1000);
    f.float("latitude", false, -90.0, 90.0);
    f.float("longitude", false, -180.0, 180.0);
    f.text("phone", false, 20);
    f.email("email", false);
    f.one_of("status", false, STATUSES);
    if let Some(group) = group {
        match m.core.storage().find_record(&GROUPS, &by_id(group)).await? {
            None => f
                .errors
                .add("group_id", "The selected group_id is invalid."),
            Some(g) if str_of(&g, "status") != Some("active") => {
                f.errors.add("group_id", "The selected group is inactive.")
            }
            Some(_) => {}
        }
    }
    m.check_unique(
        &mut f.errors,
        &BRANCHES,
        "branch_code",
        "branch_code",
        code.as_deref(),
        existing_id,
    )
    .await?;
    Ok(f)
}

fn guard_no_active_devices(branch_id: i64) -> WriteOp {
    WriteOp::Ensure {
        table: &DEVICES,
        filters: vec![
            Filter::Eq("branch_id", Value::from(branch_id)),
            Filter::Eq("status", Value::from("active")),
        ],
        min: 0,
        max: 0,
        reason: "The branch still has active devices; deactivate them first.",
    }
}

#[async_trait]
impl ResourceLogic for Branches {
    fn table(&self) -> &'static Table {
        &BRANCHES
    }
    fn noun(&self) -> &'static str {
        "Company branch"
    }
    fn scope(&self, who: &Principal) -> Vec<Filter> {
        branch_scope(who, "id")
    }
    fn list_filters(
        &self,
        params: &BTreeMap<String, String>,
        filters: &mut Vec<Filter>,
        errors: &mut ValidationErrors,
    ) {
        enum_filter(params, "status", "status", STATUSES, filters, errors);
        int_filter(params, "group_id", "group_id", filters, errors);
        if let Some(city) = params.get("city") {
            filters.push(Filter::Eq("city", Value::from(city.as_str())));
        }
    }
    fn order(&self) -> Order {
        Order::asc("branch_code")
    }

    async fn plan_create(
        &self,
        m: &Manager,
        _who: &Principal,
        body: &Map<String, Value>,
    ) -> Result<Plan, ManageError> {
        let mut record = validate(m, body, None).await?.finish()?;
        record.entry("status").or_insert(Value::from("active"));
        Ok(Plan::new(vec![insert_op(&BRANCHES, record)]))
    }

    async fn plan_update(
        &self,
        m: &Manager,
        _who: &Principal,
        existing: &Record,
        body: &Map<String, Value>,
    ) -> Result<Plan, ManageError> {
        let id = id_of(existing);
        let changes = validate(m, body, Some(id)).await?.finish()?;
        let mut ops = vec![update_op(&BRANCHES, id, changes.clone())];
        if str_of(&changes, "status") == Some("inactive") {
            ops.push(guard_no_active_devices(id));
        }
        Ok(Plan::new(ops))
    }

    async fn plan_delete(
        &self,
        _m: &Manager,
        _who: &Principal,
        existing: &Record,
    ) -> Result<Plan, ManageError> {
        // Detections and reports refer to branches: deleting would cascade history away.
        let id = id_of(existing);
        let mut changes = Record::new();
        changes.insert("status".into(), Value::from("inactive"));
        Ok(Plan::new(vec![
            update_op(&BRANCHES, id, changes),
            guard_no_active_devices(id),
        ]))
    }
}
