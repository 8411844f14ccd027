//! Global WhatsApp settings (admins only): named recipient lists with a template. One
//! row is the default (partial unique index), used for devices whose own settings have
//! no numbers or template; the default cannot be deleted.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::event_settings::{phone_list, template};
use super::form::Form;
use super::{
    Caller, ManageError, Manager, Plan, Resource, ResourceLogic, bool_filter, id_of, insert_op,
    update_op,
};
use crate::access::Principal;
use crate::manage::tables::WHATSAPP_SETTINGS;
use cctv_core::records::{Filter, Order, Record, Table, WriteOp, by_id};
use cctv_core::validation::ValidationErrors;

pub(crate) struct WhatsappSettings;

pub(super) const FIELDS: &[&str] = &[
    "name",
    "description",
    "phone_numbers",
    "message_template",
    "is_active",
    "is_default",
];

fn clear_default() -> WriteOp {
    let mut changes = Record::new();
    changes.insert("is_default".into(), Value::Bool(false));
    WriteOp::Update {
        table: &WHATSAPP_SETTINGS,
        changes,
        filters: vec![Filter::Eq("is_default", Value::Bool(true))],
    }
}

async fn validate<'a>(
    m: &Manager,
    body: &'a Map<String, Value>,
    existing_id: Option<i64>,
) -> Result<(Form<'a>, Option<bool>), ManageError> {
    let mut f = Form::new(body, existing_id.is_some());
    f.only(FIELDS);
    let name = f.text("name", true, 255);
    f.text("description", false, 500);
    if phone_list(&mut f, "phone_numbers").is_some_and(|n| n.is_empty()) {
        f.errors
            .add("phone_numbers", "At least one phone number is required.");
    } else if existing_id.is_none() && !f.present("phone_numbers") {
        f.errors
            .add("phone_numbers", "The phone_numbers field is required.");
    }
    template(&mut f, "message_template", true).await;
    f.boolean("is_active");
    let is_default = f.boolean("is_default");
    m.check_unique(
        &mut f.errors,
        &WHATSAPP_SETTINGS,
        "name",
        "name",
        name.as_deref(),
        existing_id,
    )
    .await?;
    Ok((f, is_default))
}

#[async_trait]
impl ResourceLogic for WhatsappSettings {
    fn table(&self) -> &'static Table {
        &WHATSAPP_SETTINGS
    }
    fn noun(&self) -> &'static str {
        "WhatsApp setting"
    }
    fn may_read(&self, who: &Principal) -> bool {
        who.is_admin()
    }
    fn list_filters(
        &self,
        params: &BTreeMap<String, String>,
        filters: &mut Vec<Filter>,
        errors: &mut ValidationErrors,
    ) {
        bool_filter(params, "is_active", filters, errors);
    }
    fn order(&self) -> Order {
        Order::asc("name")
    }

    async fn plan_create(
        &self,
        m: &Manager,
        _who: &Principal,
        body: &Map<String, Value>,
    ) -> Result<Plan, ManageError> {
        let (f, is_default) = validate(m, body, None).await?;
        let record = f.finish()?;
        if is_default == Some(true) {
            let mut plan = Plan::new(vec![clear_default(), insert_op(&WHATSAPP_SETTINGS, record)]);
            plan.main = 1;
            return Ok(plan);
        }
        Ok(Plan::new(vec![insert_op(&WHATSAPP_SETTINGS, record)]))
    }

    async fn plan_update(
        &self,
        m: &Manager,
        _who: &Principal,
        existing: &Record,
        body: &Map<String, Value>,
    ) -> Result<Plan, ManageError> {
        let id = id_of(existing);
        let (f, is_default) = validate(m, body, Some(id)).await?;
        let changes = f.finish()?;
        let was_default = existing.get("is_default") == Some(&Value::Bool(true));
        if is_default == Some(true) && !was_default {
            let mut plan = Plan::new(vec![
                clear_default(),
                update_op(&WHATSAPP_SETTINGS, id, changes),
            ]);
            plan.main = 1;
            return Ok(plan);
        }
        Ok(Plan::new(vec![update_op(&WHATSAPP_SETTINGS, id, changes)]))
    }

    async fn plan_delete(
        &self,
        _m: &Manager,
        _who: &Principal,
        existing: &Record,
    ) -> Result<Plan, ManageError> {
        if existing.get("is_default") == Some(&Value::Bool(true)) {
            return Err(ManageError::Conflict(
                "Cannot delete the default WhatsApp settings.".into(),
            ));
        }
        Ok(Plan::new(vec![WriteOp::Delete {
            table: &WHATSAPP_SETTINGS,
            filters: by_id(id_of(existing)),
        }]))
    }
}

impl Manager {
    pub async fn set_default_whatsapp(
        &self,
        caller: Caller<'_>,
        id: i64,
    ) -> Result<Value, ManageError> {
        let body = serde_json::json!({ "is_default": true, "is_active": true });
        self.update(caller, Resource::WhatsappSettings, id, &body)
            .await
    }
}
