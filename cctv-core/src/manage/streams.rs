//! CCTV streams per branch/device/position. URL and credentials are stored encrypted.
//! Lists show the URL without credentials; `stream_for_device` builds the playable URL
//! (credentials embedded) only for people who may view that branch, and never returns a
//! stored password as a field.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::devices::protocol_of;
use super::form::Form;
use super::tables::{DEVICES, STREAMS};
use super::{
    Caller, ManageError, Manager, Plan, ResourceLogic, branch_scope, forbidden, id_of, insert_op,
    int_filter, int_of, str_of, update_op,
};
use crate::access::{Principal, Role};
use crate::records::{Filter, Order, Record, Table};
use crate::validation::ValidationErrors;

pub(crate) struct Streams;

const FIELDS: &[&str] = &[
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
    let url = f.text("url", existing.is_none(), 2000);
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
    if let Some(url) = &url {
        let lower = url.to_ascii_lowercase();
        if !SCHEMES.iter().any(|s| lower.starts_with(s)) {
            f.errors.add(
                "url",
                "The url must start with rtsp://, rtmp://, http:// or https://.",
            );
        } else if !f.present("stream_protocol") {
            f.record
                .insert("stream_protocol".into(), Value::from(protocol_of(url)));
        }
    }
    for (field, column, max) in [
        ("url", "url_encrypted", 2000),
        ("username", "username_encrypted", 255),
        ("password", "password_encrypted", 255),
    ] {
        let plain = if field == "url" {
            url.clone()
        } else {
            f.text(field, false, max)
        };
        f.record.remove(field);
        if let Some(plain) = plain {
            f.record
                .insert(column.into(), Value::from(m.core.secrets().encrypt(&plain)));
        } else if f.present(field) && field != "url" {
            f.record.insert(column.into(), Value::Null);
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

/// The URL with user info removed (for lists and logs).
fn without_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_owned(),
    }
}

/// The URL with `user:password@` embedded (percent-encoding reserved characters).
fn with_credentials(url: &str, user: Option<&str>, password: Option<&str>) -> String {
    let bare = without_credentials(url);
    let Some(user) = user.filter(|u| !u.is_empty()) else {
        return url.to_owned();
    };
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let userinfo = match password {
        Some(p) if !p.is_empty() => format!("{}:{}", enc(user), enc(p)),
        _ => enc(user),
    };
    match bare.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{userinfo}@{rest}"),
        None => bare,
    }
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
        Ok(Plan::new(vec![crate::records::WriteOp::Delete {
            table: &STREAMS,
            filters: crate::records::by_id(id_of(existing)),
        }]))
    }

    fn present(&self, m: &Manager, record: &Record) -> Value {
        let mut out = super::public_fields(record);
        let url = str_of(record, "url_encrypted").and_then(|c| m.core.secrets().decrypt(c).ok());
        out.insert(
            "stream_url".into(),
            url.map_or(Value::Null, |u| Value::from(without_credentials(&u))),
        );
        out.insert(
            "has_credentials".into(),
            Value::Bool(str_of(record, "username_encrypted").is_some()),
        );
        Value::Object(out)
    }
}

impl Manager {
    /// The playable stream of a device for the live view.
    pub async fn stream_for_device(
        &self,
        caller: Caller<'_>,
        device_id: &str,
    ) -> Result<Value, ManageError> {
        let storage = self.core.storage();
        let device = storage
            .find_record(&DEVICES, &[Filter::Eq("device_id", Value::from(device_id))])
            .await?
            .ok_or_else(|| ManageError::NotFound("Device not found".into()))?;
        let branch = int_of(&device, "branch_id").unwrap_or_default();
        if !caller.who.may_view_branch(branch) {
            return Err(forbidden());
        }
        let stream = storage
            .find_record(&STREAMS, &[Filter::Eq("device_id", Value::from(device_id))])
            .await?
            .ok_or_else(|| {
                ManageError::NotFound("No stream is configured for this device".into())
            })?;
        let secrets = self.core.secrets();
        let plain = |column: &str| str_of(&stream, column).and_then(|c| secrets.decrypt(c).ok());
        let url = plain("url_encrypted").unwrap_or_default();
        let playable = with_credentials(
            &url,
            plain("username_encrypted").as_deref(),
            plain("password_encrypted").as_deref(),
        );
        let protocol = str_of(&stream, "stream_protocol").unwrap_or("rtsp");
        let in_browser = matches!(protocol, "hls" | "mjpeg" | "http");
        Ok(serde_json::json!({
            "device_id": device_id,
            "device_name": str_of(&device, "device_name"),
            "stream_name": str_of(&stream, "stream_name"),
            "stream_protocol": protocol,
            "stream_url": playable,
            "status": str_of(&stream, "status"),
            "playable_in_browser": in_browser,
            "message": (!in_browser).then_some(
                "This stream needs a gateway (e.g. an RTSP-to-HLS server) to play in a browser."),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_stripped_and_embedded_with_escaping() {
        assert_eq!(
            without_credentials("rtsp://u:p@10.0.0.5:554/live"),
            "rtsp://10.0.0.5:554/live"
        );
        assert_eq!(
            with_credentials("rtsp://10.0.0.5/live", Some("adm in"), Some("p@ss:1")),
            "rtsp://adm%20in:p%40ss%3A1@10.0.0.5/live"
        );
        assert_eq!(
            with_credentials("http://cam/x.m3u8", None, Some("p")),
            "http://cam/x.m3u8"
        );
    }
}
