//! Notification settings per (branch, device): whether events notify, over WhatsApp, to
//! which numbers and with which template, and to which event webhooks
//! ([`super::event_webhooks`]). Admins manage all, operators their branches.
//! Templates are checked when saved, so an unknown variable is an error here, never a
//! literal in a message; phone numbers are normalised when saved.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::form::Form;
use super::{
    ManageError, Manager, Plan, ResourceLogic, bool_filter, branch_scope, forbidden, id_of,
    insert_op, int_filter, int_of, public_fields, update_op,
};
use crate::access::{Principal, Role};
use crate::manage::tables::EVENT_SETTINGS;
use cctv_core::records::tables::DEVICES;
use cctv_core::records::{Filter, Record, Table, WriteOp, by_id};
use cctv_core::validation::ValidationErrors;

pub(crate) struct EventSettings;

pub(super) const FIELDS: &[&str] = &[
    "branch_id",
    "device_id",
    "is_active",
    "send_image",
    "send_message",
    "send_notification",
    "whatsapp_enabled",
    "whatsapp_numbers",
    "message_template",
    "notification_template",
    "webhook_enabled",
    "webhook_urls",
    "webhook_rotate",
];

/// Validates a list of phone numbers into their normalised form under `field`.
pub(crate) fn phone_list(f: &mut Form<'_>, field: &str) -> Option<Vec<String>> {
    let raw = f.string_list(field, 50)?;
    let mut out = Vec::with_capacity(raw.len());
    for number in raw {
        match crate::phone::normalize_phone(&number) {
            Ok(n) if !out.contains(&n) => out.push(n),
            Ok(_) => {}
            Err(e) => {
                f.errors.add(field, format!("{number:?}: {e}"));
                return None;
            }
        }
    }
    f.record.insert(field.into(), Value::from(out.clone()));
    Some(out)
}

/// Validates a message template under `field`: syntax, variables, and a trial render
/// within the template budget, off the async runtime.
pub(crate) async fn template(f: &mut Form<'_>, field: &str, required: bool) {
    if let Some(t) = f.text(field, required, 1000)
        && let Err(e) = crate::template::validate_template_off_runtime(&t).await
    {
        f.record.remove(field);
        f.errors.add(field, e.to_string());
    }
}

async fn validate<'a>(
    m: &Manager,
    who: &Principal,
    body: &'a Map<String, Value>,
    existing: Option<&Record>,
) -> Result<Form<'a>, ManageError> {
    let mut f = Form::new(body, existing.is_some());
    if existing.is_some() {
        // The pair is the identity of the row; moving a device moves its settings.
        f.only(&FIELDS[2..]);
    } else {
        f.only(FIELDS);
    }
    let branch = f.int("branch_id", existing.is_none(), 1, i64::MAX);
    let device = f.code("device_id", existing.is_none(), 50);
    for flag in [
        "is_active",
        "send_image",
        "send_message",
        "send_notification",
        "whatsapp_enabled",
        "webhook_enabled",
    ] {
        f.boolean(flag);
    }
    phone_list(&mut f, "whatsapp_numbers");
    super::event_webhooks::seal(m, who, &mut f, existing);
    template(&mut f, "message_template", false).await;
    template(&mut f, "notification_template", false).await;
    if let (Some(branch), Some(device)) = (branch, device) {
        if !who.may_manage_branch(branch) {
            return Err(forbidden());
        }
        let row = m
            .core
            .storage()
            .find_record(
                &DEVICES,
                &[Filter::Eq("device_id", Value::from(device.as_str()))],
            )
            .await?;
        match row {
            None => f
                .errors
                .add("device_id", "The selected device_id is invalid."),
            Some(d) if int_of(&d, "branch_id") != Some(branch) => f
                .errors
                .add("device_id", "The device does not belong to this branch."),
            Some(_) => {
                let taken = m
                    .core
                    .storage()
                    .count_records(
                        &EVENT_SETTINGS,
                        &[Filter::Eq("device_id", Value::from(device))],
                    )
                    .await?;
                if taken > 0 {
                    f.errors
                        .add("device_id", "This device already has event settings.");
                }
            }
        }
    }
    Ok(f)
}

#[async_trait]
impl ResourceLogic for EventSettings {
    fn table(&self) -> &'static Table {
        &EVENT_SETTINGS
    }
    fn noun(&self) -> &'static str {
        "Event setting"
    }
    fn may_write(&self, who: &Principal) -> bool {
        who.role != Role::Viewer
    }
    fn scope(&self, who: &Principal) -> Vec<Filter> {
        branch_scope(who, "branch_id")
    }
    fn present(&self, m: &Manager, who: &Principal, record: &Record) -> Value {
        let mut out = public_fields(record);
        super::event_webhooks::present(m, who, record, &mut out);
        Value::Object(out)
    }
    fn list_filters(
        &self,
        params: &BTreeMap<String, String>,
        filters: &mut Vec<Filter>,
        errors: &mut ValidationErrors,
    ) {
        int_filter(params, "branch_id", "branch_id", filters, errors);
        bool_filter(params, "is_active", filters, errors);
        bool_filter(params, "whatsapp_enabled", filters, errors);
        bool_filter(params, "webhook_enabled", filters, errors);
    }

    async fn plan_create(
        &self,
        m: &Manager,
        who: &Principal,
        body: &Map<String, Value>,
    ) -> Result<Plan, ManageError> {
        let record = validate(m, who, body, None).await?.finish()?;
        Ok(Plan::new(vec![insert_op(&EVENT_SETTINGS, record)]))
    }

    async fn plan_update(
        &self,
        m: &Manager,
        who: &Principal,
        existing: &Record,
        body: &Map<String, Value>,
    ) -> Result<Plan, ManageError> {
        if !int_of(existing, "branch_id").is_some_and(|b| who.may_manage_branch(b)) {
            return Err(forbidden());
        }
        let changes = validate(m, who, body, Some(existing)).await?.finish()?;
        Ok(Plan::new(vec![update_op(
            &EVENT_SETTINGS,
            id_of(existing),
            changes,
        )]))
    }

    async fn plan_delete(
        &self,
        _m: &Manager,
        who: &Principal,
        existing: &Record,
    ) -> Result<Plan, ManageError> {
        if !int_of(existing, "branch_id").is_some_and(|b| who.may_manage_branch(b)) {
            return Err(forbidden());
        }
        Ok(Plan::new(vec![WriteOp::Delete {
            table: &EVENT_SETTINGS,
            filters: by_id(id_of(existing)),
        }]))
    }
}
