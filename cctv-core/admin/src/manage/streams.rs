//! CCTV streams per branch/device/position. URL and credentials are stored encrypted and
//! never returned in clear (see `camera_fields`); how a browser plays a stream is in
//! `stream_access`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::devices::protocol_of;
use super::form::Form;
use super::{
    ManageError, Manager, Plan, ResourceLogic, branch_scope, forbidden, id_of, insert_op,
    int_filter, int_of, str_of, update_op,
};
use crate::access::{Principal, Role};
use crate::manage::tables::STREAMS;
use cctv_core::records::tables::DEVICES;
use cctv_core::records::{Filter, Order, Record, Table};
use cctv_core::validation::ValidationErrors;

pub(crate) struct Streams;

pub(super) const FIELDS: &[&str] = &[
    "branch_id",
    "device_id",
    "stream_name",
    "url",
    "username",
    "password",
    "stream_protocol",
    "position",
    "resolution",
    "fps",
    "status",
];
const PROTOCOLS: &[&str] = &["rtsp", "rtmp", "hls", "http", "mjpeg", "webrtc"];
const STATUSES: &[&str] = &["unknown", "online", "offline", "error", "maintenance"];
const SCHEMES: &[&str] = &["rtsp://", "rtsps://", "rtmp://", "http://", "https://"];

async fn validate<'a>(
    m: &Manager,
    who: &Principal,
    body: &'a Map<String, Value>,
    existing: Option<&Record>,
) -> Result<Form<'a>, ManageError> {
    let mut f = Form::new(body, existing.is_some());
    f.only(FIELDS);
    let branch = f.int("branch_id", true, 1, i64::MAX);
    let device = f.code("device_id", true, 50);
    f.text("stream_name", true, 150);
    f.one_of("stream_protocol", false, PROTOCOLS);
    f.int("position", false, 1, 64);
    f.int("fps", false, 1, 120);
    f.one_of("status", false, STATUSES);
    if let Some(res) = f.text("resolution", false, 20) {
        let ok = res
            .split_once('x')
            .is_some_and(|(w, h)| w.parse::<u32>().is_ok() && h.parse::<u32>().is_ok());
        if !ok {
            f.errors
                .add("resolution", "The resolution must look like 1920x1080.");
        }
    }
    if let Some(url) = super::camera_fields::seal(m, &mut f, existing, true) {
        let lower = url.to_ascii_lowercase();
        if !SCHEMES.iter().any(|s| lower.starts_with(s)) {
            f.errors.add(
                "url",
                "The url must start with rtsp://, rtmp://, http:// or https://.",
            );
        } else if !f.present("stream_protocol") {
            f.record
                .insert("stream_protocol".into(), Value::from(protocol_of(&url)));
        }
    }
    let branch = branch.or_else(|| existing.and_then(|e| int_of(e, "branch_id")));
    if let Some(b) = branch
        && !who.may_manage_branch(b)
    {
        return Err(forbidden());
    }
    let device =
        device.or_else(|| existing.and_then(|e| str_of(e, "device_id").map(str::to_owned)));
    if let (Some(device), Some(branch)) = (device, branch) {
        let row = m
            .core
            .storage()
            .find_record(&DEVICES, &[Filter::Eq("device_id", Value::from(device))])
            .await?;
        match row {
            None => f
                .errors
                .add("device_id", "The selected device_id is invalid."),
            Some(d) if int_of(&d, "branch_id") != Some(branch) => f
                .errors
                .add("device_id", "The device does not belong to this branch."),
            Some(_) => {}
        }
    }
    Ok(f)
}

#[async_trait]
impl ResourceLogic for Streams {
    fn table(&self) -> &'static Table {
        &STREAMS
    }
    fn noun(&self) -> &'static str {
        "Stream"
    }
    fn may_write(&self, who: &Principal) -> bool {
        who.role != Role::Viewer
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
        int_filter(params, "branch_id", "branch_id", filters, errors);
        if let Some(device) = params.get("device_id") {
            filters.push(Filter::Eq("device_id", Value::from(device.as_str())));
        }
    }
    fn order(&self) -> Order {
        Order::asc("position")
    }

    async fn plan_create(
        &self,
        m: &Manager,
        who: &Principal,
        body: &Map<String, Value>,
    ) -> Result<Plan, ManageError> {
        let record = validate(m, who, body, None).await?.finish()?;
        Ok(Plan::new(vec![insert_op(&STREAMS, record)]))
    }

    async fn plan_update(
        &self,
        m: &Manager,
        who: &Principal,
        existing: &Record,
        body: &Map<String, Value>,
    ) -> Result<Plan, ManageError> {
        let changes = validate(m, who, body, Some(existing)).await?.finish()?;
        Ok(Plan::new(vec![update_op(
            &STREAMS,
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
        Ok(Plan::new(vec![cctv_core::records::WriteOp::Delete {
            table: &STREAMS,
            filters: cctv_core::records::by_id(id_of(existing)),
        }]))
    }

    fn present(&self, m: &Manager, who: &Principal, record: &Record) -> Value {
        let mut out = super::public_fields(record);
        super::camera_fields::present(m, who, record, "stream_url", &mut out);
        out.insert(
            "has_credentials".into(),
            Value::Bool(str_of(record, "username_encrypted").is_some()),
        );
        Value::Object(out)
    }
}
