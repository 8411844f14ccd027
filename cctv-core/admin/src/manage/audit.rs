//! The audit log: written with every change (see `Manager::create`/`update`/`delete`),
//! read by admins only, never changed through the API.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::{ManageError, Manager, Plan, ResourceLogic, forbidden, int_filter};
use crate::access::Principal;
use crate::manage::tables::AUDIT_LOGS;
use cctv_core::records::{Filter, Record, Table};
use cctv_core::validation::ValidationErrors;

pub(crate) struct AuditLogs;

#[async_trait]
impl ResourceLogic for AuditLogs {
    fn table(&self) -> &'static Table {
        &AUDIT_LOGS
    }
    fn noun(&self) -> &'static str {
        "Audit log entry"
    }
    fn may_read(&self, who: &Principal) -> bool {
        who.is_admin()
    }
    fn may_write(&self, _who: &Principal) -> bool {
        false
    }
    fn list_filters(
        &self,
        params: &BTreeMap<String, String>,
        filters: &mut Vec<Filter>,
        errors: &mut ValidationErrors,
    ) {
        int_filter(params, "user_id", "user_id", filters, errors);
        for name in ["entity", "action", "entity_id"] {
            if let Some(v) = params.get(name) {
                let column = match name {
                    "entity" => "entity",
                    "action" => "action",
                    _ => "entity_id",
                };
                filters.push(Filter::Eq(column, Value::from(v.as_str())));
            }
        }
    }

    async fn plan_create(
        &self,
        _m: &Manager,
        _who: &Principal,
        _body: &Map<String, Value>,
    ) -> Result<Plan, ManageError> {
        Err(forbidden())
    }

    async fn plan_update(
        &self,
        _m: &Manager,
        _who: &Principal,
        _existing: &Record,
        _body: &Map<String, Value>,
    ) -> Result<Plan, ManageError> {
        Err(forbidden())
    }
}
