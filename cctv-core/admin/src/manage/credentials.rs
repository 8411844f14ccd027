//! API credentials of devices (admins only). The secret is generated here, shown once in
//! the create or regenerate response, and stored only as its SHA-256 digest. Changes
//! reload the credential cache, so revocation and expiry apply on the next request.

use std::collections::BTreeMap;

use async_trait::async_trait;
use jiff::Timestamp;
use serde_json::{Map, Value};

use super::form::Form;
use super::{
    Caller, ManageError, Manager, Plan, Resource, ResourceLogic, enum_filter, id_of, insert_op,
    int_filter, int_of, str_of, update_op,
};
use crate::access::Principal;
use cctv_core::credential::{DEFAULT_RATE_LIMIT, GeneratedSecret, hash_secret};
use cctv_core::records::tables::{BRANCHES, CREDENTIALS, DEVICES};
use cctv_core::records::{Filter, Record, Table, hex};
use cctv_core::validation::ValidationErrors;

pub(crate) struct Credentials;

pub(super) const FIELDS: &[&str] = &[
    "credential_name",
    "expires_at",
    "status",
    "branch_id",
    "device_id",
    "permissions",
    "rate_limit",
    "regenerate_secret",
];
const STATUSES: &[&str] = &["active", "inactive", "expired"];

async fn validate<'a>(
    m: &Manager,
    body: &'a Map<String, Value>,
    existing: Option<&Record>,
) -> Result<Form<'a>, ManageError> {
    let mut f = Form::new(body, existing.is_some());
    f.only(FIELDS);
    f.text("credential_name", true, 150);
    if let Some(t) = f.timestamp("expires_at")
        && t <= Timestamp::now()
    {
        f.errors
            .add("expires_at", "The expires_at must be a date after now.");
    }
    f.one_of("status", false, STATUSES);
    f.int("rate_limit", false, 1, 10_000_000);
    f.boolean("regenerate_secret");
    f.record.remove("regenerate_secret");
    let branch = f.int("branch_id", false, 1, i64::MAX);
    let device = f.code("device_id", false, 50);
    if let Some(branch) = branch
        && m.core
            .storage()
            .count_records(&BRANCHES, &cctv_core::records::by_id(branch))
            .await?
            == 0
    {
        f.errors
            .add("branch_id", "The selected branch_id is invalid.");
    }
    if let Some(device) = &device {
        let row = m
            .core
            .storage()
            .find_record(
                &DEVICES,
                &[Filter::Eq("device_id", Value::from(device.as_str()))],
            )
            .await?;
        let effective_branch = branch.or_else(|| existing.and_then(|e| int_of(e, "branch_id")));
        match row {
            None => f
                .errors
                .add("device_id", "The selected device_id is invalid."),
            Some(d) if effective_branch.is_some_and(|b| int_of(&d, "branch_id") != Some(b)) => {
                f.errors.add(
                    "device_id",
                    "The device does not belong to the credential's branch.",
                )
            }
            Some(_) => {}
        }
    }
    match f.raw("permissions") {
        None => {}
        Some(Value::Object(p))
            if p.keys().all(|k| k == "read" || k == "write")
                && p.values().all(Value::is_boolean) =>
        {
            let read = p.get("read").and_then(Value::as_bool).unwrap_or(true);
            let write = p.get("write").and_then(Value::as_bool).unwrap_or(true);
            f.record.insert(
                "permissions".into(),
                serde_json::json!({ "read": read, "write": write }),
            );
        }
        Some(_) => f.errors.add(
            "permissions",
            "The permissions must be an object with boolean read and write.",
        ),
    }
    Ok(f)
}

/// Stores a fresh secret's digest in `record` and returns the secret to reveal.
fn new_secret(record: &mut Record) -> (String, String) {
    let generated = GeneratedSecret::generate();
    record.insert(
        "secret_hash".into(),
        Value::from(hex(&hash_secret(&generated.api_secret))),
    );
    (generated.api_key, generated.api_secret)
}

#[async_trait]
impl ResourceLogic for Credentials {
    fn table(&self) -> &'static Table {
        &CREDENTIALS
    }
    fn noun(&self) -> &'static str {
        "API credential"
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
        enum_filter(params, "status", "status", STATUSES, filters, errors);
        int_filter(params, "branch_id", "branch_id", filters, errors);
        if let Some(device) = params.get("device_id") {
            filters.push(Filter::Eq("device_id", Value::from(device.as_str())));
        }
    }

    async fn plan_create(
        &self,
        m: &Manager,
        who: &Principal,
        body: &Map<String, Value>,
    ) -> Result<Plan, ManageError> {
        let mut record = validate(m, body, None).await?.finish()?;
        let (api_key, api_secret) = new_secret(&mut record);
        record.insert("api_key".into(), Value::from(api_key));
        record.entry("status").or_insert(Value::from("active"));
        record
            .entry("rate_limit")
            .or_insert(Value::from(DEFAULT_RATE_LIMIT));
        record
            .entry("permissions")
            .or_insert(serde_json::json!({ "read": true, "write": true }));
        if who.user_id > 0 {
            record.insert("created_by".into(), Value::from(who.user_id));
        }
        let mut plan = Plan::new(vec![insert_op(&CREDENTIALS, record)]);
        plan.reveal
            .insert("api_secret".into(), Value::from(api_secret));
        Ok(plan)
    }

    async fn plan_update(
        &self,
        m: &Manager,
        _who: &Principal,
        existing: &Record,
        body: &Map<String, Value>,
    ) -> Result<Plan, ManageError> {
        let mut changes = validate(m, body, Some(existing)).await?.finish()?;
        let regenerate = body
            .get("regenerate_secret")
            .is_some_and(|v| v.as_bool() == Some(true) || v == "1" || v == "true");
        let mut reveal = Map::new();
        if regenerate {
            let (_, secret) = new_secret(&mut changes);
            reveal.insert("api_secret".into(), Value::from(secret));
        }
        let mut plan = Plan::new(vec![update_op(&CREDENTIALS, id_of(existing), changes)]);
        plan.reveal = reveal;
        Ok(plan)
    }

    fn present(&self, _m: &Manager, _who: &Principal, record: &Record) -> Value {
        let mut out = super::public_fields(record);
        let key = str_of(record, "api_key").unwrap_or_default();
        let masked: String = key.chars().take(9).chain("....".chars()).collect();
        out.insert("api_key_masked".into(), Value::from(masked));
        Value::Object(out)
    }
}

impl Manager {
    /// Replaces the secret of a credential; the new secret is in the response, once.
    pub async fn regenerate_credential(
        &self,
        caller: Caller<'_>,
        id: i64,
    ) -> Result<Value, ManageError> {
        let body = serde_json::json!({ "regenerate_secret": true });
        self.update(caller, Resource::Credentials, id, &body).await
    }
}
