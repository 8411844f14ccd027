//! Devices (cameras, AI nodes, routers, CCTV recorders). Admins manage all; operators
//! manage the devices of their branches. `device_id` is the business key: unique and
//! immutable. URL, user name and password are stored encrypted and never returned in
//! clear (see `camera_fields`). Moving a device to another branch moves its event
//! settings and streams.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::form::Form;
use super::groups::STATUSES;
use super::{
    ManageError, Manager, Plan, ResourceLogic, branch_scope, enum_filter, forbidden, id_of,
    insert_op, int_filter, int_of, str_of, update_op,
};
use crate::access::Principal;
use crate::manage::tables::{EVENT_SETTINGS, STREAMS};
use cctv_core::records::tables::{BRANCHES, DEVICES};
use cctv_core::records::{Filter, Order, Record, Table, WriteOp, by_id};
use cctv_core::validation::ValidationErrors;

pub(crate) struct Devices;

pub(crate) const DEVICE_TYPES: &[&str] = &["camera", "node_ai", "mikrotik", "cctv"];
pub(super) const FIELDS: &[&str] = &[
    "device_id",
    "device_name",
    "device_type",
    "branch_id",
    "url",
    "username",
    "password",
    "notes",
    "status",
];

/// Validates the body; `url`/`username`/`password` move to their encrypted columns.
async fn validate<'a>(
    m: &Manager,
    who: &Principal,
    body: &'a Map<String, Value>,
    existing: Option<&Record>,
) -> Result<Form<'a>, ManageError> {
    let mut f = Form::new(body, existing.is_some());
    f.only(FIELDS);
    let device_id = f.code("device_id", true, 50);
    if let (Some(existing), Some(new)) = (existing, device_id.as_deref())
        && str_of(existing, "device_id") != Some(new)
    {
        f.errors
            .add("device_id", "The device_id cannot be changed.");
    }
    f.text("device_name", true, 150);
    f.one_of("device_type", false, DEVICE_TYPES);
    let branch = f.int("branch_id", true, 1, i64::MAX);
    f.text("notes", false, 2000);
    f.one_of("status", false, STATUSES);
    super::camera_fields::seal(m, &mut f, existing, false);
    if let Some(branch) = branch {
        if !who.may_manage_branch(branch) {
            return Err(forbidden());
        } else if m
            .core
            .storage()
            .find_record(&BRANCHES, &by_id(branch))
            .await?
            .is_none()
        {
            f.errors
                .add("branch_id", "The selected branch_id is invalid.");
        }
    }
    if existing.is_none() {
        m.check_unique(
            &mut f.errors,
            &DEVICES,
            "device_id",
            "device_id",
            device_id.as_deref(),
            None,
        )
        .await?;
    }
    Ok(f)
}

/// The stream protocol a URL implies.
pub(crate) fn protocol_of(url: &str) -> &'static str {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("rtmp://") {
        "rtmp"
    } else if lower.contains(".m3u8") {
        "hls"
    } else if lower.contains("mjpg") || lower.contains("mjpeg") {
        "mjpeg"
    } else if lower.starts_with("http://") || lower.starts_with("https://") {
        "http"
    } else {
        "rtsp"
    }
}

#[async_trait]
impl ResourceLogic for Devices {
    fn table(&self) -> &'static Table {
        &DEVICES
    }
    fn noun(&self) -> &'static str {
        "Device"
    }
    fn may_write(&self, who: &Principal) -> bool {
        who.role != crate::access::Role::Viewer
    }
    fn scope(&self, who: &Principal) -> Vec<Filter> {
        branch_scope(who, "branch_id")
    }
    fn list_filters(
        &self,
        params: &BTreeMap<String, String>,
        filters: &mut Vec<Filter>,
        errors: &mut ValidationErrors,
    ) {
        enum_filter(params, "status", "status", STATUSES, filters, errors);
        enum_filter(
            params,
            "device_type",
            "device_type",
            DEVICE_TYPES,
            filters,
            errors,
        );
        int_filter(params, "branch_id", "branch_id", filters, errors);
    }
    fn order(&self) -> Order {
        Order::asc("device_id")
    }

    async fn plan_create(
        &self,
        m: &Manager,
        who: &Principal,
        body: &Map<String, Value>,
    ) -> Result<Plan, ManageError> {
        let mut record = validate(m, who, body, None).await?.finish()?;
        record.entry("status").or_insert(Value::from("active"));
        record.entry("device_type").or_insert(Value::from("camera"));
        let device_id = str_of(&record, "device_id").unwrap_or_default().to_owned();
        let branch_id = int_of(&record, "branch_id").unwrap_or_default();
        let mut settings = Record::new();
        settings.insert("branch_id".into(), Value::from(branch_id));
        settings.insert("device_id".into(), Value::from(device_id.as_str()));
        let mut ops = vec![
            insert_op(&DEVICES, record.clone()),
            insert_op(&EVENT_SETTINGS, settings),
        ];
        // A CCTV device with a URL gets its stream right away (as the original did).
        if str_of(&record, "device_type") == Some("cctv")
            && let Some(url) = body
                .get("url")
                .and_then(Value::as_str)
                .filter(|u| !u.trim().is_empty())
        {
            let mut stream = Record::new();
            stream.insert("branch_id".into(), Value::from(branch_id));
            stream.insert("device_id".into(), Value::from(device_id.as_str()));
            let name = str_of(&record, "device_name").unwrap_or_default();
            stream.insert("stream_name".into(), Value::from(format!("{name} Stream")));
            for column in ["url_encrypted", "username_encrypted", "password_encrypted"] {
                stream.insert(
                    column.into(),
                    record.get(column).cloned().unwrap_or(Value::Null),
                );
            }
            stream.insert(
                "stream_protocol".into(),
                Value::from(protocol_of(url.trim())),
            );
            ops.push(insert_op(&STREAMS, stream));
        }
        Ok(Plan::new(ops))
    }

    async fn plan_update(
        &self,
        m: &Manager,
        who: &Principal,
        existing: &Record,
        body: &Map<String, Value>,
    ) -> Result<Plan, ManageError> {
        let id = id_of(existing);
        let changes = validate(m, who, body, Some(existing)).await?.finish()?;
        let mut ops = vec![update_op(&DEVICES, id, changes.clone())];
        let old_branch = int_of(existing, "branch_id");
        if let Some(new_branch) = int_of(&changes, "branch_id").filter(|b| Some(*b) != old_branch) {
            let device = str_of(existing, "device_id").unwrap_or_default();
            for table in [&EVENT_SETTINGS, &STREAMS] {
                let mut moved = Record::new();
                moved.insert("branch_id".into(), Value::from(new_branch));
                ops.push(WriteOp::Update {
                    table,
                    changes: moved,
                    filters: vec![Filter::Eq("device_id", Value::from(device))],
                });
            }
        }
        Ok(Plan::new(ops))
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
        // Detections refer to the device: deactivate instead of deleting history.
        let mut changes = Record::new();
        changes.insert("status".into(), Value::from("inactive"));
        Ok(Plan::new(vec![update_op(
            &DEVICES,
            id_of(existing),
            changes,
        )]))
    }

    fn present(&self, m: &Manager, who: &Principal, record: &Record) -> Value {
        let mut out = super::public_fields(record);
        super::camera_fields::present(m, who, record, "url", &mut out);
        Value::Object(out)
    }
}
